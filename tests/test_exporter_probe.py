"""/probe as blackbox_exporter's icmp prober: modules, timeouts, address choice, the allow-list,
debug output, and probes given up by their clients (loopback, and a silent host in a
simulated network)."""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import textwrap
import time
import urllib.request

import netsim
import pytest

pytest.importorskip("aiohttp")

from test_exporter import MakeExporter, fetch, make_exporter, one, parse  # noqa: F401

from fastping import Monitor
from fastping.exporter import ConfigError, main
from fastping.exporter.blackbox import ip_hash, scrape_timeout
from fastping.exporter.modules import Module, parse_modules

MODULES = textwrap.dedent("""\
    targets: []
    modules:
      icmp:
        prober: icmp
        timeout: 5s
      icmp4_only:
        prober: icmp
        icmp:
          preferred_ip_protocol: ip4
          ip_protocol_fallback: false
      big:
        prober: icmp
        icmp: {payload_size: 1000, ttl: 32, dont_fragment: true}
      elsewhere:
        prober: icmp
        icmp: {source_ip_address: 192.0.2.7}
      http_2xx:
        prober: http
        http: {valid_status_codes: [200]}
    """)


@pytest.fixture
def prober_url(make_exporter: MakeExporter, tmp_path: pathlib.Path) -> str:  # noqa: F811
    config = tmp_path / "blackbox.yml"
    config.write_text(MODULES)
    return make_exporter(config=str(config), probe_max_timeout=8.0,
                         allowed_targets="127.0.0.0/8, ::1/128, localhost").url


def probe(url: str, query: str, scrape_timeout: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url + "/probe?" + query)
    if scrape_timeout is not None:
        request.add_header("X-Prometheus-Scrape-Timeout-Seconds", scrape_timeout)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_modules_and_blackbox_answers(prober_url: str) -> None:
    assert probe(prober_url, "target=127.0.0.1&module=nope") == (400, 'Unknown module "nope"\n')
    status, text = probe(prober_url, "target=127.0.0.1&module=http_2xx")
    assert status == 400 and 'Unknown prober "http"' in text
    assert probe(prober_url, "module=icmp") == (400, "Target parameter is missing\n")
    status, text = probe(prober_url, "target=127.0.0.1&module=icmp", scrape_timeout="soon")
    assert status == 500 and "Failed to parse timeout from Prometheus header" in text

    with urllib.request.urlopen(prober_url + "/probe?target=::1&module=icmp") as answer:
        assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(probe(prober_url, "target=::1&module=icmp")[1])
    assert one(samples, "probe_success") == 1 and one(samples, "probe_ip_protocol") == 6
    assert one(samples, "probe_ip_addr_hash") == 1751717746  # as blackbox 0.23 said for ::1
    # ip4 without fallback: ::1 has no IPv4 address, so nothing is pinged.
    samples = parse(probe(prober_url, "target=::1&module=icmp4_only")[1])
    assert one(samples, "probe_success") == 0 and one(samples, "probe_ip_protocol") == 0
    assert one(samples, "probe_ip_addr_hash") == 0
    # A module with its own payload size and TTL pings on an engine of its own.
    samples = parse(probe(prober_url, "target=127.0.0.1&module=big")[1])
    assert one(samples, "probe_success") == 1
    # A source address this host does not have: a failed probe that says why, not a 500.
    status, text = probe(prober_url, "target=127.0.0.1&module=elsewhere&debug=true")
    assert status == 200 and 'msg="Error listening to socket"' in text
    assert "probe_success 0.0" in text


def timeout_of(url: str, query: str, header: str | None) -> float:
    status, text = probe(url, query + "&debug=true", header)
    assert status == 200, text
    [line] = [line for line in text.splitlines() if 'msg="Beginning probe"' in line]
    return float(line.rsplit("timeout_seconds=", 1)[1])


def test_probe_timeouts(prober_url: str) -> None:
    # The header less 0.5 s; the module's 5 s if shorter; --probe.max-timeout (8 s) at most.
    assert timeout_of(prober_url, "target=127.0.0.1&module=icmp", "3") == 2.5
    assert timeout_of(prober_url, "target=127.0.0.1&module=icmp", "30") == 5.0
    assert timeout_of(prober_url, "target=127.0.0.1&module=icmp4_only", "30") == 8.0
    assert timeout_of(prober_url, "target=127.0.0.1&module=icmp4_only", None) == 8.0
    assert timeout_of(prober_url, "target=127.0.0.1&module=icmp4_only&timeout=1s", "30") == 1.0


def test_many_distinct_timeouts_at_once(prober_url: str) -> None:
    # Each its own scrape timeout, more than the engine's 32 distinct timeouts: all probed.
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda n: probe(prober_url, "target=127.0.0.1&module=icmp",
                                                f"{3 + n / 1000}"), range(50)))
    assert [status for status, _ in answers] == [200] * 50
    assert all(one(parse(body), "probe_success") == 1 for _, body in answers)


def test_scrape_timeout_is_blackboxs_get_timeout() -> None:
    module = Module("m", timeout=5.0)
    assert scrape_timeout("10", module, 60.0) == 5.0
    assert scrape_timeout("2", module, 60.0) == 1.5
    assert scrape_timeout(None, Module("m"), 600.0) == 119.5  # blackbox's 120 s less 0.5 s
    assert scrape_timeout("0.2", module, 60.0) == 5.0  # negative: the module's, as in Go
    with pytest.raises(ValueError):
        scrape_timeout("ten", module, 60.0)


def test_debug_output(prober_url: str) -> None:
    status, text = probe(prober_url, "target=127.0.0.1&module=icmp&debug=true")
    assert status == 200
    logs, rest = text.split("\n\n\nMetrics that would have been returned:\n")
    metrics, configuration = rest.split("\n\n\nModule configuration:\n")
    assert logs.startswith("Logs for the probe:\n")
    assert 'msg="Probe succeeded"' in logs and "module=icmp target=127.0.0.1" in logs
    assert one(parse(metrics), "probe_success") == 1
    assert configuration.startswith("prober: icmp\ntimeout: 5s\nicmp:\n")


def test_allowed_targets(prober_url: str) -> None:
    assert probe(prober_url, "target=127.0.0.2&module=icmp")[0] == 200
    assert probe(prober_url, "target=localhost&module=icmp")[0] == 200
    status, text = probe(prober_url, "target=192.0.2.1&module=icmp")
    assert status == 403 and "--probe.allowed-targets" in text


def test_ip_hash_is_fnv1a_of_the_address_bytes() -> None:
    assert ip_hash("127.0.0.1") == 3668918509  # blackbox 0.23's answers
    assert ip_hash("::1") == 1751717746


@pytest.mark.parametrize(("document", "message"), [
    ({"modules": {"m": {"prober": "icmp", "icmp": {"ttl": 300}}}}, "ttl must be an integer"),
    ({"modules": {"m": {"prober": "icmp", "icmp": {"preferred_ip_protocol": "ip5"}}}},
     "ip4 or ip6"),
    ({"modules": {"m": {"prober": "icmp", "icmp": {"colour": 1}}}}, "unknown key 'colour'"),
    ({"modules": {"m": {"prober": "icmp", "tiemout": "5s"}}}, "unknown key 'tiemout'"),
    ({"modules": {"m": {"timeout": "5s"}}}, "give its prober"),
    ({"modules": {"m": {"prober": "icmp", "timeout": "soon"}}}, "not a duration"),
    ({"modules": {"m": {"prober": "icmp", "icmp": {"source_ip_address": "me"}}}},
     "not an IP address"),
    ({"modules": ["icmp"]}, "mapping of names"),
    # An engine is kept open for each distinct set of options: 65 TTLs are too many.
    ({"modules": {f"ttl{n}": {"prober": "icmp", "icmp": {"ttl": n}} for n in range(1, 66)}},
     "more than 64 distinct combinations"),
])
def test_bad_modules(document: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_modules(document, "blackbox.yml")


def test_a_huge_value_is_quoted_short() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_modules({"modules": {"m": {"prober": "icmp", "icmp": {"ttl": "x" * 100_000}}}})
    assert len(str(raised.value)) < 300


def test_a_cancelled_probe_is_forgotten_at_once() -> None:
    with Monitor([], period=1.0) as monitor:
        monitor.start()
        # (An interval under the monitor's send slack, 0.125 s here, would not be kept.)
        future = monitor.submit_probe("127.0.0.1", count=1000, interval=0.3, timeout=0.5)
        time.sleep(0.45)
        assert monitor.resources()["scheduled"] == 1 and monitor.counters()["sent"] == 2
        future.cancel()
        assert monitor.resources()["scheduled"] == 0  # forgotten by cancel() itself
        time.sleep(0.4)
        assert monitor.counters()["sent"] == 2


# In the simulated network: clients that give up on probes of a silent host free their slots.
CLIENT = """
import json, socket, sys, time, urllib.request
from fastping.exporter import Exporter
from fastping.exporter.targets import DEFAULT_ENGINE

spec = json.loads(sys.argv[1])
with Exporter([], listen="127.0.0.1:0", probe_limit=2) as exporter:
    monitor = exporter._targets.probe_engine(DEFAULT_ENGINE)
    idle = monitor.resources()["hosts"]
    request = ("GET /probe?module=icmp&target=%s HTTP/1.1\\r\\nHost: x\\r\\n"
               "X-Prometheus-Scrape-Timeout-Seconds: 60\\r\\n\\r\\n")
    for _ in range(spec["quitters"]):  # each would wait 59.5 s for the silent host
        quitter = socket.create_connection(exporter.address)
        quitter.sendall((request % spec["silent"]).encode())
        time.sleep(0.3)
        quitter.close()
    time.sleep(0.3)
    left = monitor.resources()["hosts"] - idle
    started = time.monotonic()
    with urllib.request.urlopen("%s/probe?module=icmp&target=%s" % (exporter.url, spec["live"]),
                                timeout=10) as answer:
        body = answer.read().decode()
    print(json.dumps({"left": left, "seconds": time.monotonic() - started,
                      "success": "probe_success 1.0" in body}))
"""


def test_clients_that_give_up_free_their_probes() -> None:
    try:
        with netsim.SimulatedNetwork({"198.18.0.9": {"silent": True}, "198.18.0.2": {}}) as net:
            report = net.run(CLIENT, {"quitters": 6, "silent": "198.18.0.9",
                                      "live": "198.18.0.2"}, timeout=60)
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")
    # Six quitters, two slots: before, every later probe waited for a slot and got 503.
    assert report == {"left": 0, "seconds": pytest.approx(report["seconds"]), "success": True}
    assert report["seconds"] < 1.0, json.dumps(report)


def test_a_reload_replaces_the_modules(make_exporter: MakeExporter,  # noqa: F811
                                       tmp_path: pathlib.Path) -> None:
    config = tmp_path / "blackbox.yml"
    config.write_text("targets: []\nmodules:\n  first: {prober: icmp}\n")
    instance = make_exporter(config=str(config))
    assert probe(instance.url, "target=127.0.0.1&module=first")[0] == 200
    config.write_text("targets: []\nmodules:\n  second: {prober: icmp}\n")
    assert instance.reload()
    assert probe(instance.url, "target=127.0.0.1&module=first")[0] == 400
    assert probe(instance.url, "target=127.0.0.1&module=second")[0] == 200
    # A module blackbox would refuse: the reload fails and the modules stay as they were.
    config.write_text("targets: []\nmodules:\n  third: {prober: icmp, icmp: {ttl: 999}}\n")
    assert not instance.reload()
    assert probe(instance.url, "target=127.0.0.1&module=second")[0] == 200


@pytest.mark.parametrize(("flags", "message"), [
    (["--probe.max-timeout", "abc"], "--probe.max-timeout: not a duration"),
    (["--probe.allowed-targets", "a b"], "neither a network nor a host name"),
    (["--probe.allowed-targets", ","], "give networks or host names"),
])
def test_probe_flag_errors(flags: list[str], message: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--listen", "127.0.0.1:0", "127.0.0.1", *flags]) == 3
    assert message in capsys.readouterr().err


def engines_client() -> None:
    """In the simulated network: /probe requests to modules with their own payload size,
    TTL, source address and don't-fragment, on engines opened once (counted in
    /proc/self/fd), and what a reload and a close release."""
    import json
    import os
    import pathlib
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    from fastping.exporter import Exporter

    spec = json.loads(sys.argv[1])
    subprocess.run(["ip", "link", "set", "dev", "lo", "mtu", str(spec["mtu"])], check=True)

    def descriptors() -> int:
        # The least of a few looks: the server closes a finished request's socket a moment
        # after the client has.
        counts = []
        for _ in range(5):
            counts.append(len(os.listdir("/proc/self/fd")))
            time.sleep(0.05)
        return min(counts)

    def probe(url: str, module: str, target: str) -> dict[str, float]:
        with urllib.request.urlopen(f"{url}/probe?module={module}&target={target}",
                                    timeout=10) as answer:
            lines = answer.read().decode().splitlines()
        return {line.split()[0]: float(line.split()[1]) for line in lines
                if line.startswith("probe_") and "{" not in line}

    config = pathlib.Path(tempfile.mkdtemp()) / "blackbox.yml"
    config.write_text(spec["config"])
    before = descriptors()
    report: dict[str, object] = {}
    with Exporter([], config=str(config), listen="127.0.0.1:0",
                  privileged=spec["privileged"]) as exporter:
        report["engines"] = len(exporter.snapshot().groups)
        for name, target in spec["probes"]:  # each module's first probe: sockets opened
            probe(exporter.url, name, target)
        opened = descriptors()
        for _ in range(spec["rounds"]):
            for name, target in spec["probes"]:
                report[f"{name} {target}"] = probe(exporter.url, name, target)
        report["growth"] = descriptors() - opened
        with urllib.request.urlopen(f"{exporter.url}/probe?module=big_df&target=127.0.0.1"
                                    "&debug=true", timeout=10) as answer:
            report["big_df log"] = [line for line in answer.read().decode().splitlines()
                                    if "level=error" in line]
        config.write_text(spec["reloaded"])
        report["reloaded"] = exporter.reload()
        report["engines after reload"] = len(exporter.snapshot().groups)
        report["released by reload"] = opened - descriptors()
    report["left after close"] = descriptors() - before
    print(json.dumps(report))


ENGINE_MODULES = textwrap.dedent("""\
    targets: []
    modules:
      plain: {prober: icmp, icmp: {preferred_ip_protocol: ip4}}
      ttl64: {prober: icmp, icmp: {preferred_ip_protocol: ip4, ttl: 64}}
      hop1: {prober: icmp, icmp: {preferred_ip_protocol: ip4, ttl: 1}}
      hop3: {prober: icmp, icmp: {preferred_ip_protocol: ip4, ttl: 3}}
      big: {prober: icmp, icmp: {preferred_ip_protocol: ip4, payload_size: 1400}}
      big_df: {prober: icmp, icmp: {preferred_ip_protocol: ip4, payload_size: 1400,
                                    dont_fragment: true}}
      small_df: {prober: icmp, icmp: {preferred_ip_protocol: ip4, dont_fragment: true}}
      sourced: {prober: icmp, icmp: {preferred_ip_protocol: ip4,
                                     source_ip_address: 198.18.0.1}}
      big6: {prober: icmp, icmp: {payload_size: 1400}}
      big6_df: {prober: icmp, icmp: {payload_size: 1400, dont_fragment: true}}
    """)


@pytest.mark.parametrize("privileged", [True, False], ids=["raw", "datagram"])
def test_module_probes_share_long_lived_engines(privileged: bool) -> None:
    far = "198.18.0.5"  # two routers away; its replies leave it with TTL 50
    probes = [["plain", far], ["ttl64", far], ["hop1", far], ["hop3", far], ["big", far],
              ["sourced", far], ["big", "127.0.0.1"], ["big_df", "127.0.0.1"],
              ["small_df", "127.0.0.1"], ["big6", "::1"], ["big6_df", "::1"]]
    try:
        with netsim.SimulatedNetwork(
                {far: {"hops": ["198.18.1.1", "198.18.1.2"], "ttl": 50}}) as net:
            report = net.run(netsim.client_source(engines_client), {
                "config": ENGINE_MODULES, "probes": probes, "rounds": 10, "mtu": 1280,
                "privileged": privileged,
                "reloaded": "targets: []\nmodules:\n  plain: {prober: icmp}\n"}, timeout=90)
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")
    # plain and ttl64 (blackbox's default TTL) share the default engine, big and big6 one,
    # big_df and big6_df one (an engine has both families); the others, one each.
    assert report["engines"] == 7
    # 110 probes after the first round opened no descriptor: no engine per request.
    assert report["growth"] == 0, report
    success = {key: value["probe_success"] for key, value in report.items()
               if isinstance(value, dict)}
    assert success == {
        f"plain {far}": 1, f"ttl64 {far}": 1, f"hop3 {far}": 1, f"big {far}": 1,
        f"sourced {far}": 1,
        # TTL 1 dies at the first router: the module's TTL is the engine's.
        f"hop1 {far}": 0,
        # 1,428 bytes over loopback's MTU of 1280: fragmented, unless don't-fragment.
        "big 127.0.0.1": 1, "big_df 127.0.0.1": 0, "small_df 127.0.0.1": 1,
        "big6 ::1": 1, "big6_df ::1": 0}
    # The send itself fails, as blackbox logs it.
    assert any('msg="Error writing to socket" err="Message too long"' in line
               for line in report["big_df log"]), report["big_df log"]
    assert report[f"plain {far}"]["probe_icmp_reply_hop_limit"] == 50
    assert report[f"big {far}"]["probe_icmp_reply_hop_limit"] == 50
    # The reload leaves one module on the default engine: the other six are closed.
    assert report["reloaded"] and report["engines after reload"] == 1
    assert report["released by reload"] > 0
    assert report["left after close"] == 0
