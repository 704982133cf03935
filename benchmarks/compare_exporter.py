"""compare.py --exporter: fastping's exporter against Debian's prometheus-smokeping-prober.

Both are given the same smokeping_prober configuration file (N loopback targets pinged every
second) and run as processes of their own, side by side in one run:

- CPU: each one's CPU share of one core over --duration seconds, from /proc, after
  STEADY_WARMUP_S; no scrapes meanwhile (pinging only). Then its RSS, and a scrape of
  /metrics (median of SCRAPES, the text and gzip as Prometheus asks for it).
- Scrapes: fastping's exporter alone at 1,000, 10,000 and 100,000 targets: /metrics'
  latency and bytes (text; gzip), and how far the process' peak RSS rose from before its
  first scrape to the end of the scrapes (one alone, SCRAPES one after the other, text then
  gzip, then SCRAPES at once, text then gzip).

Scrapes are made by curl, a client as quick as Prometheus' (Python's http.client reading
400 MB takes longer than fastping writing it), else by urllib.

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
from concurrent.futures import ThreadPoolExecutor
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


def scrape(port: int, gzip: bool = False) -> tuple[float, int]:
    """One GET of /metrics, the body thrown away: (seconds, bytes on the wire)."""
    url = f"http://127.0.0.1:{port}/metrics"
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    curl = shutil.which("curl")
    if curl is not None:
        done = subprocess.run(
            [curl, "-sS", "-o", "/dev/null", "--max-time", "120", "-w",
             "%{time_total} %{size_download}", *(f"-H{k}: {v}" for k, v in headers.items()),
             url], capture_output=True, text=True, check=True)
        seconds, written = done.stdout.split()
        return float(seconds), int(written)
    start = time.monotonic()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=120) as response:
        size = sum(len(block) for block in iter(lambda: response.read(1 << 20), b""))
    return time.monotonic() - start, size


def wait_ready(child: subprocess.Popen[bytes], port: int, count: int,
               path: str) -> float | None:
    """Seconds until the exporter serves path with every target (on /metrics: their
    requests series; fastping serves nothing before its targets are added), None if it
    does not within READY_LIMIT_S; raises if it ends."""
    start = time.monotonic()
    while time.monotonic() - start < READY_LIMIT_S:
        if child.poll() is not None:
            raise RuntimeError(f"exited with {child.returncode} before serving")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                        timeout=READY_LIMIT_S) as response:
                body = response.read()
        except OSError:
            time.sleep(0.5)
            continue
        if path != "/metrics" or body.count(b"\nsmokeping_requests_total{") >= count:
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape_figures(pid: int, port: int) -> dict[str, float]:
    """The first scrape's latency; the median latency and bytes of SCRAPES more (text, then
    gzip) and of SCRAPES at once (text, then gzip); the rise of the process' peak RSS over
    them all."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    before = rss_mib(pid)
    first, _ = scrape(port)
    text = [scrape(port) for _ in range(SCRAPES)]
    zipped = [scrape(port, gzip=True) for _ in range(SCRAPES)]
    with ThreadPoolExecutor(SCRAPES) as pool:
        together = list(pool.map(lambda _: scrape(port), range(SCRAPES)))
        zipped_together = list(pool.map(lambda _: scrape(port, gzip=True), range(SCRAPES)))
    return {"rss_mib": before, "peak_rise_mib": rss_mib(pid, "VmHWM") - before,
            "first_scrape_s": first,
            "scrape_s": statistics.median(s for s, _ in text),
            "bytes": statistics.median(n for _, n in text),
            "gzip_scrape_s": statistics.median(s for s, _ in zipped),
            "gzip_bytes": statistics.median(n for _, n in zipped),
            "concurrent_scrape_s": statistics.median(s for s, _ in together),
            "concurrent_gzip_scrape_s": statistics.median(s for s, _ in zipped_together)}


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


def contenders(config: Path) -> list[tuple[str, str, Callable[[int], list[str]]]]:
    """(name, the path that answers once its targets are in, its command for a port)"""
    found = [("fastping exporter", "/", lambda port: [
        sys.executable, "-m", "fastping", "exporter", "--config.file", str(config),
        "--web.listen-address", f"127.0.0.1:{port}"])]
    smokeping = shutil.which(SMOKEPING)
    if smokeping is not None:
        found.append((f"{SMOKEPING} (Debian)", "/metrics", lambda port: [
            smokeping, "--privileged", f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}"]))
    return found


def compare_cpu(directory: Path, duration: float, progress: Progress) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for count in CPU_SIZES:
        config = write_config(directory, count)
        for name, path, argv in contenders(config):
            with Running(argv) as running:
                try:
                    ready = wait_ready(running.child, running.port, count, path)
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
                                          "rss_mib": rss_mib(pid)}
                # One that never showed every target would not answer a scrape in time either.
                if ready is not None:
                    row.update(scrape_figures(pid, running.port))
            rows.append(row)
            progress(f"exporter {name} {count}: {share * 100:.2f} % of a core")
    return rows


def compare_scrapes(directory: Path, progress: Progress) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for count in SCRAPE_SIZES:
        (_, path, argv), *_ = contenders(write_config(directory, count))
        with Running(argv) as running:
            try:
                ready = wait_ready(running.child, running.port, count, path)
            except RuntimeError as error:
                rows.append({"targets": count, "failed": str(error)})
                continue
            if ready is None:
                rows.append({"targets": count, "failed": f"not serving in {READY_LIMIT_S:g} s"})
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
        scrapes = (f"| not every target's series within {READY_LIMIT_S:g} s | | | |"
                   if "scrape_s" not in row else
                   f"| {_number(row['scrape_s'], 3)} "
                   f"| {_number(row['bytes'] / 1e6, 1)} "  # type: ignore[operator]
                   f"| {_number(row['gzip_scrape_s'], 3)} "
                   f"| {_number(row['gzip_bytes'] / 1e6, 2)} |")  # type: ignore[operator]
        lines.append(
            f"| {row['exporter']} | {row['targets']:,} "
            f"| {_number(row['cpu_share_of_core'] * 100, 2, ' %')} "  # type: ignore[operator]
            f"| {_number(row['rss_mib'], 0)} {scrapes}")
    return "\n".join(lines)


def scrape_table(rows: Sequence[dict[str, object]]) -> str:
    lines = [f"### fastping exporter's /metrics (median of {SCRAPES}; then {SCRAPES} at once)",
             "", "| targets | serving after s | first scrape s | scrape s | MB | gzip scrape s "
             f"| gzip MB | {SCRAPES} at once s | gzip {SCRAPES} at once s | RSS MiB "
             "| peak RSS rise MiB |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['targets']:,} | failed: {row['failed']} | | | | | | | | | |")
            continue
        lines.append(
            f"| {row['targets']:,} | {_number(row['ready_s'], 1)} "
            f"| {_number(row['first_scrape_s'], 3)} | {_number(row['scrape_s'], 3)} "
            f"| {_number(row['bytes'] / 1e6, 1)} "  # type: ignore[operator]
            f"| {_number(row['gzip_scrape_s'], 3)} "
            f"| {_number(row['gzip_bytes'] / 1e6, 2)} "  # type: ignore[operator]
            f"| {_number(row['concurrent_scrape_s'], 3)} "
            f"| {_number(row['concurrent_gzip_scrape_s'], 3)} "
            f"| {_number(row['rss_mib'], 0)} | {_number(row['peak_rise_mib'], 0)} |")
    return "\n".join(lines)


def compare_exporters(directory: Path, duration: float,
                      progress: Progress) -> tuple[dict[str, object], list[str]]:
    """The report's entries and the tables."""
    cpu = compare_cpu(directory, duration, progress)
    scrapes = compare_scrapes(directory, progress)
    return {"exporter_cpu": cpu, "exporter_scrapes": scrapes}, [
        cpu_table(duration, cpu), scrape_table(scrapes)]
