"""fastping's /probe against Debian's prometheus-blackbox-exporter on the same module file and
targets: the same metric names, types, help and label names (values may differ), and the same
answers to bad requests.

Both run inside a simulated network's namespace, so that the unknown name's lookup fails
there (a fresh namespace has no route to any nameserver) and a silent host can be probed:
127.0.0.1, ::1, a simulated host that answers, one that never does, and a name that does not
resolve, through modules that prefer IPv6 (blackbox's default), IPv4 only, a short
timeout, and payloads over loopback's MTU (1280 in the namespace) with and without
dont_fragment.
"""

from __future__ import annotations

import json
import pathlib

import netsim
import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")

from debian import debian_commands

MODULES = """\
modules:
  icmp:
    prober: icmp
    timeout: 1s
  icmp4_only:
    prober: icmp
    timeout: 1s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  icmp_ttl:
    prober: icmp
    timeout: 1s
    icmp:
      preferred_ip_protocol: ip4
      ttl: 32
      payload_size: 64
  icmp_big:
    prober: icmp
    timeout: 1s
    icmp: {preferred_ip_protocol: ip4, payload_size: 1400}
  icmp_big_df:
    prober: icmp
    timeout: 1s
    icmp: {preferred_ip_protocol: ip4, payload_size: 1400, dont_fragment: true}
  icmp_df:
    prober: icmp
    timeout: 1s
    icmp: {preferred_ip_protocol: ip4, dont_fragment: true}
"""
LIVE, SILENT = "198.18.0.2", "198.18.0.9"
CASES = [("127.0.0.1", "icmp"), ("::1", "icmp"), (LIVE, "icmp"), (SILENT, "icmp"),
         ("no-such-host.invalid", "icmp"), ("::1", "icmp4_only"), ("127.0.0.1", "icmp4_only"),
         ("127.0.0.1", "icmp_ttl"), ("127.0.0.1", "icmp_big"), ("127.0.0.1", "icmp_big_df"),
         ("127.0.0.1", "icmp_df")]
# Loopback's MTU in the namespace: 1,400-byte probes are fragmented, or fail to leave with DF.
MTU = 1280
BAD_QUERIES = ["module=nope&target=127.0.0.1", "module=icmp", "target=127.0.0.1&module="]

# Runs in the namespace: both exporters on its loopback, every case asked of each.
CLIENT = """
import json, socket, subprocess, sys, time, urllib.error, urllib.request
from prometheus_client.parser import text_string_to_metric_families
from fastping.exporter import Exporter

spec = json.loads(sys.argv[1])
subprocess.run(["ip", "link", "set", "dev", "lo", "mtu", str(spec["mtu"])], check=True)

def get(url, header=True):
    request = urllib.request.Request(url)
    if header:
        request.add_header("X-Prometheus-Scrape-Timeout-Seconds", "3")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers["Content-Type"]

def families(text):  # name: [type, help, label names]
    return {f.name: [f.type, f.documentation, sorted({k for s in f.samples for k in s.labels})]
            for f in text_string_to_metric_families(text)}

with socket.socket() as free:
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
blackbox = subprocess.Popen([spec["blackbox"], "--config.file=" + spec["config"],
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
report = {"cases": [], "bad": []}
try:
    with Exporter([], config=spec["config"], listen="127.0.0.1:0") as exporter:
        urls = {"blackbox": "http://127.0.0.1:%d" % port, "fastping": exporter.url}
        for _ in range(100):  # up to 10 s for blackbox to listen
            try:
                get(urls["blackbox"] + "/metrics", header=False)
                break
            except OSError:
                time.sleep(0.1)
        for target, module in spec["cases"]:
            answers = {}
            for name, url in urls.items():
                status, text, kind = get(url + "/probe?target=%s&module=%s" % (target, module))
                answers[name] = {"status": status, "type": kind, "families": families(text),
                                 "success": "probe_success 1" in text}
            report["cases"].append({"target": target, "module": module, **answers})
        for query in spec["bad"]:
            report["bad"].append({name: get(url + "/probe?" + query) for name, url in urls.items()})
finally:
    blackbox.terminate()
    report["blackbox_log"] = blackbox.communicate(timeout=10)[1][-2000:]
print(json.dumps(report))
"""


def test_probe_matches_blackbox_exporter(tmp_path: pathlib.Path) -> None:
    (blackbox,) = debian_commands("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    config = tmp_path / "blackbox.yml"
    config.write_text(MODULES)
    tmp_path.chmod(0o755)
    try:
        with netsim.SimulatedNetwork({LIVE: {}, SILENT: {"silent": True}}) as network:
            report = network.run(CLIENT, {"blackbox": blackbox, "config": str(config),
                                          "cases": CASES, "bad": BAD_QUERIES, "mtu": MTU},
                                 timeout=120)
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")
    assert len(report["cases"]) == len(CASES), report["blackbox_log"]
    for case in report["cases"]:
        where = f"{case['target']} with {case['module']}"
        assert case["blackbox"]["status"] == case["fastping"]["status"] == 200, where
        assert case["blackbox"]["type"] == case["fastping"]["type"], where
        assert case["fastping"]["families"] == case["blackbox"]["families"], where
        assert case["fastping"]["success"] == case["blackbox"]["success"], where
    # The answers differ where they should: the live host's probe succeeds, the silent one's not.
    success = {(case["target"], case["module"]): case["fastping"]["success"]
               for case in report["cases"]}
    assert success[(LIVE, "icmp")] and not success[(SILENT, "icmp")]
    assert success[("127.0.0.1", "icmp_ttl")] and not success[("::1", "icmp4_only")]
    assert success[("127.0.0.1", "icmp_big")] and not success[("127.0.0.1", "icmp_big_df")]
    assert success[("127.0.0.1", "icmp_df")]
    for answers, query in zip(report["bad"], BAD_QUERIES, strict=True):
        assert answers["fastping"] == answers["blackbox"], (query, json.dumps(answers))
