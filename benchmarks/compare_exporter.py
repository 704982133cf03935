"""compare.py --exporter: fastping's exporter against Debian's prometheus-smokeping-prober.

Both are given the same smokeping_prober configuration file (N loopback targets pinged every
second) and run as processes of their own, side by side in one run:

- CPU: each one's CPU share of one core over --duration seconds, from /proc, after
  STEADY_WARMUP_S; no scrapes meanwhile (pinging only). Then its RSS, and a scrape of
  /metrics (median of SCRAPES, the text and gzip as Prometheus asks for it).
- Scrapes: fastping's exporter alone at 1,000, 10,000 and 100,000 targets: /metrics'
  latency and bytes (text; gzip), and how far the process' peak RSS rose over the scrapes
  (the peak is reset first, through /proc/PID/clear_refs).

Run as root (smokeping_prober pings through raw sockets here: --privileged).
"""

from __future__ import annotations

import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from compare import STEADY_WARMUP_S, _number, process_cpu_s

CPU_SIZES = (1_000, 10_000)
SCRAPE_SIZES = (1_000, 10_000, 100_000)
SCRAPES = 3
READY_LIMIT_S = 180.0  # for an exporter's first full /metrics (100,000 hosts to add)
SMOKEPING = "prometheus-smokeping-prober"

Progress = Callable[[str], None]


def loopback_targets(count: int) -> list[str]:
    """count loopback addresses from 127.1.0.1 on, none ending in .0 or .255."""
    return [f"127.{1 + i // 62_500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(count)]


def write_config(directory: Path, count: int) -> Path:
    """A smokeping_prober configuration of count loopback targets every second."""
    path = directory / f"smokeping-{count}.yml"
    hosts = "".join(f"  - {host}\n" for host in loopback_targets(count))
    path.write_text(f"targets:\n- interval: 1s\n  network: ip4\n  hosts:\n{hosts}")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int, gzip: bool = False) -> tuple[float, int, bytes]:
    """One GET of /metrics: (seconds, bytes on the wire, body as sent)."""
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    return time.monotonic() - start, len(body), body


def wait_ready(child: subprocess.Popen[bytes], port: int, count: int) -> float:
    """Seconds until /metrics shows every target (their requests series); raises if never."""
    start = time.monotonic()
    while time.monotonic() - start < READY_LIMIT_S:
        if child.poll() is not None:
            raise RuntimeError(f"exited with {child.returncode} before serving")
        try:
            _, _, body = scrape(port)
        except OSError:
            time.sleep(0.5)
            continue
        if body.count(b"\nsmokeping_requests_total{") >= count:
            return time.monotonic() - start
        time.sleep(0.5)
    raise RuntimeError(f"/metrics did not show {count} targets in {READY_LIMIT_S:g} s")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape_figures(pid: int, port: int) -> dict[str, float]:
    """Median latency and bytes of SCRAPES scrapes (text, then gzip), and the rise of the
    process' peak RSS over them."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    before = rss_mib(pid)
    text = [scrape(port) for _ in range(SCRAPES)]
    zipped = [scrape(port, gzip=True) for _ in range(SCRAPES)]
    return {"rss_mib": before, "peak_rise_mib": rss_mib(pid, "VmHWM") - before,
            "scrape_s": statistics.median(s for s, _, _ in text),
            "bytes": statistics.median(n for _, n, _ in text),
            "gzip_scrape_s": statistics.median(s for s, _, _ in zipped),
            "gzip_bytes": statistics.median(n for _, n, _ in zipped)}


class Running:
    """An exporter process on a free port, stopped (SIGINT, then SIGKILL) on leaving."""

    def __init__(self, argv: Callable[[int], list[str]]) -> None:
        self.port = free_port()
        self.child = subprocess.Popen(argv(self.port), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.child.send_signal(signal.SIGINT)
        try:
            self.child.wait(15)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


def contenders(config: Path) -> list[tuple[str, Callable[[int], list[str]]]]:
    found = [("fastping exporter", lambda port: [
        sys.executable, "-m", "fastping", "exporter", "--config.file", str(config),
        "--web.listen-address", f"127.0.0.1:{port}"])]
    smokeping = shutil.which(SMOKEPING)
    if smokeping is not None:
        found.append((f"{SMOKEPING} (Debian)", lambda port: [
            smokeping, "--privileged", f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}"]))
    return found


def compare_cpu(directory: Path, duration: float, progress: Progress) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for count in CPU_SIZES:
        config = write_config(directory, count)
        for name, argv in contenders(config):
            with Running(argv) as running:
                try:
                    ready = wait_ready(running.child, running.port, count)
                except RuntimeError as error:
                    rows.append({"exporter": name, "targets": count, "failed": str(error)})
                    progress(f"exporter {name} {count}: {error}")
                    continue
                time.sleep(STEADY_WARMUP_S)
                pid = running.child.pid
                start_cpu, start_wall = process_cpu_s(pid), time.monotonic()
                time.sleep(duration)
                share = (process_cpu_s(pid) - start_cpu) / (time.monotonic() - start_wall)
                row: dict[str, object] = {"exporter": name, "targets": count,
                                          "ready_s": ready, "cpu_share_of_core": share,
                                          **scrape_figures(pid, running.port)}
            rows.append(row)
            progress(f"exporter {name} {count}: {share * 100:.2f} % of a core, scrape "
                     f"{row['scrape_s']:.3f} s")
    return rows


def compare_scrapes(directory: Path, progress: Progress) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for count in SCRAPE_SIZES:
        (_, argv), *_ = contenders(write_config(directory, count))
        with Running(argv) as running:
            try:
                ready = wait_ready(running.child, running.port, count)
            except RuntimeError as error:
                rows.append({"targets": count, "failed": str(error)})
                continue
            row: dict[str, object] = {"targets": count, "ready_s": ready,
                                      **scrape_figures(running.child.pid, running.port)}
        rows.append(row)
        progress(f"scrape {count}: {row['scrape_s']:.3f} s, {row['bytes']:,.0f} bytes")
    return rows


def cpu_table(duration: float, rows: Sequence[dict[str, object]]) -> str:
    lines = [f"### Exporters: loopback targets every 1 s, CPU over {duration:g} s after "
             f"{STEADY_WARMUP_S:g} s; then /metrics, median of {SCRAPES}", "",
             "| exporter | targets | CPU share of one core | RSS MiB | scrape s | MB "
             "| gzip scrape s | gzip MB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['exporter']} | {row['targets']:,} | failed: {row['failed']} "
                         "| | | | | |")
            continue
        lines.append(
            f"| {row['exporter']} | {row['targets']:,} "
            f"| {_number(row['cpu_share_of_core'] * 100, 2, ' %')} "  # type: ignore[operator]
            f"| {_number(row['rss_mib'], 0)} | {_number(row['scrape_s'], 3)} "
            f"| {_number(row['bytes'] / 1e6, 1)} "  # type: ignore[operator]
            f"| {_number(row['gzip_scrape_s'], 3)} "
            f"| {_number(row['gzip_bytes'] / 1e6, 2)} |")  # type: ignore[operator]
    return "\n".join(lines)


def scrape_table(rows: Sequence[dict[str, object]]) -> str:
    lines = [f"### fastping exporter's /metrics, median of {SCRAPES} scrapes", "",
             "| targets | first full scrape after start s | scrape s | MB | gzip scrape s "
             "| gzip MB | RSS MiB | peak RSS rise over the scrapes MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['targets']:,} | failed: {row['failed']} | | | | | | |")
            continue
        lines.append(
            f"| {row['targets']:,} | {_number(row['ready_s'], 1)} "
            f"| {_number(row['scrape_s'], 3)} "
            f"| {_number(row['bytes'] / 1e6, 1)} "  # type: ignore[operator]
            f"| {_number(row['gzip_scrape_s'], 3)} "
            f"| {_number(row['gzip_bytes'] / 1e6, 2)} "  # type: ignore[operator]
            f"| {_number(row['rss_mib'], 0)} | {_number(row['peak_rise_mib'], 0)} |")
    return "\n".join(lines)


def compare_exporters(directory: Path, duration: float,
                      progress: Progress) -> tuple[dict[str, object], list[str]]:
    """The report's entries and the tables."""
    cpu = compare_cpu(directory, duration, progress)
    scrapes = compare_scrapes(directory, progress)
    return {"exporter_cpu": cpu, "exporter_scrapes": scrapes}, [
        cpu_table(duration, cpu), scrape_table(scrapes)]
