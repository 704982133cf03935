"""fping's text output, byte for byte: per-probe lines, sweep lines, ICMP error warnings,
-C's summaries, the -s block, -D timestamps and netdata's format (-c's and -l's summaries,
and a quiet -C's, are the binding's: _fping_text.pxi). Each function is given the target's
shown name and the engine's Tally; RTTs are printed as fping's sprint_tm does."""

from __future__ import annotations

import time

from .._typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from .._results import Result, Tally
    from .tallies import Totals

# fping's names for ICMP errors (icmp_type_str, icmp_unreach_str in fping.c)
_TYPES = {3: "ICMP Unreachable", 4: "ICMP Source Quench", 5: "ICMP Redirect",
          11: "ICMP Time Exceeded", 12: "ICMP Parameter Problem"}
_UNREACHABLE = (
    "ICMP Network Unreachable", "ICMP Host Unreachable", "ICMP Protocol Unreachable",
    "ICMP Port Unreachable", "ICMP Unreachable (Fragmentation Needed)",
    "ICMP Unreachable (Source Route Failed)", "ICMP Unreachable (Destination Network Unknown)",
    "ICMP Unreachable (Destination Host Unknown)", "ICMP Unreachable (Source Host Isolated)",
    "ICMP Unreachable (Communication with Network Prohibited)",
    "ICMP Unreachable (Communication with Host Prohibited)",
    "ICMP Unreachable (Network Unreachable For Type Of Service)",
    "ICMP Unreachable (Host Unreachable For Type Of Service)",
    "ICMP Unreachable (Communication Administratively Prohibited)",
    "ICMP Unreachable (Host Precedence Violation)",
    "ICMP Unreachable (Precedence cutoff in effect)",
)
TIMESTAMP_PAYLOAD = 12  # an ICMP timestamp message's three times: fping says 20 bytes

# ICMPv6 errors as their ICMPv4 counterparts: (type, code) by v6 type, then by v6 code
_V6_AS_V4 = {1: (3, {0: 0, 1: 13, 3: 1, 4: 3}), 3: (11, {}), 4: (12, {})}


def ms(seconds: float) -> str:
    """An RTT in ms with fping's precision: more decimals for smaller times."""
    milliseconds = seconds * 1000
    # (A chain of ifs: a summary of 100,000 targets formats 300,000 of these.)
    if milliseconds < 1:
        return f"{milliseconds:.3f}"
    if milliseconds < 10:
        return f"{milliseconds:.2f}"
    if milliseconds < 100:
        return f"{milliseconds:.1f}"
    if milliseconds < 1e6:
        return f"{milliseconds:.0f}"
    return f"{milliseconds:.3e}"


def loss_percent(sent: int, received: int) -> int:
    """fping's integer loss: rounded down."""
    return (sent - received) * 100 // sent if sent else 0


def byte_length(name: str) -> int:
    """The bytes of name, as C's strlen counts them."""
    return len(name) if name.isascii() else len(name.encode("utf-8", "surrogateescape"))


def pad(name: str, width: int) -> str:
    """name left-justified to width bytes, as printf's %-*s."""
    return name + " " * (width - byte_length(name))


def clock(style: str, when: float) -> str:
    """-D's time: fping's default (seconds since the epoch) or a --timestamp-format."""
    if style == "":
        return f"{when:.5f}"
    pattern = {"ctime": "%c", "iso": "%Y-%m-%dT%H:%M:%S%z", "rfc3339": "%Y-%m-%d %H:%M:%S"}
    return time.strftime(pattern[style], time.localtime(int(when)))


def timestamp(style: str | None, when: float) -> str:
    """-D's prefix of a per-probe line ("" without -D)."""
    return "" if style is None else f"[{clock(style, when)}] "


def _so_far(tally: Tally) -> str:
    # (Tally.avg and loss_percent inlined: -l prints this a probe, 1,000 lines a second.)
    sent, received = tally.sent, tally.received
    average = ms(tally.total / received) if received else "NaN"
    return f" ({average} avg, {(sent - received) * 100 // sent if sent else 0}% loss)"


def reply_line(name: str, number: int, size: int, rtt: float, tally: Tally) -> str:
    """A reply in -c/-C/-l: the target's number-th probe, and its average and loss so far."""
    return f"{name} : [{number}], {size + 8} bytes, {ms(rtt)} ms{_so_far(tally)}"


def timeout_line(name: str, number: int, tally: Tally) -> str:
    return f"{name} : [{number}], timed out{_so_far(tally)}"


def extras(result: Result, args: argparse.Namespace, elapsed: bool, comma: bool) -> str:
    """What fping appends to a reply's line: an ICMP timestamp reply's times (after a comma
    but with -a), the address it was sent to (--print-reply-dst), --print-tos's TOS,
    --print-ttl's TTL, then -e's RTT (sweeps only)."""
    text = ""
    stamps = result.timestamps
    if stamps is not None:
        text += (f"{',' if comma else ''} timestamps: Originate={stamps.originate} "
                 f"Receive={stamps.receive} Transmit={stamps.transmit} "
                 f"Localreceive={stamps.local_receive}")
    if args.print_reply_dst:
        text += f" (SRC {result.destination or 'unknown'})"
    if args.print_tos:
        text += " (TOS unknown)" if result.tos is None else f" (TOS {result.tos})"
    if args.print_ttl:
        text += " (TTL unknown)" if result.ttl is None else f" (TTL {result.ttl})"
    if elapsed and result.rtt is not None:
        text += f" ({ms(result.rtt)} ms)"
    return text


def icmp_warning(result: Result, name: str) -> str | None:
    """fping's line on stderr for an ICMP error a probe met (None if it met none)."""
    icmp_type, code, router = result.icmp_type, result.icmp_code, result.router
    if icmp_type is None or code is None or router is None:
        return None
    if ":" in router and icmp_type in _V6_AS_V4:
        icmp_type, codes = _V6_AS_V4[icmp_type]
        code = codes.get(code, code)
    if icmp_type == 3:
        what = _UNREACHABLE[code] if code < len(_UNREACHABLE) else \
            "ICMP Unreachable (Invalid Code)"
    else:
        what = _TYPES.get(icmp_type, f"ICMP {icmp_type}")
    return f"{what} from {router} for ICMP Echo sent to {name}"


def rtts_line(name: str, rtts: list[float | None]) -> str:
    """-C's summary: every RTT, '-' for a probe lost."""
    return f"{name} :" + "".join([" -" if rtt is None else f" {ms(rtt)}" for rtt in rtts])


def stats_block(totals: Totals) -> list[str]:
    """fping's -s block, a line an item (the first and last blank)."""
    counts = ((totals.targets, "targets"), (totals.alive, "alive"),
              (totals.unreachable, "unreachable"), (totals.unknown, "unknown addresses"), None,
              (totals.timeouts, "timeouts (waiting for response)"),
              (totals.sent, "ICMP Echos sent"),
              (totals.received + totals.duplicates, "ICMP Echo Replies received"),
              (totals.errors, "other ICMP received"), None)
    lines = [""] + ["" if row is None else f" {row[0]:7d} {row[1]}" for row in counts]
    for value, name in ((totals.least, "min"), (totals.average, "avg"),
                        (totals.greatest, "max")):
        lines.append(f" {ms(value or 0.0)} ms ({name} round trip time)")
    lines += [f" {totals.elapsed:12.3f} sec (elapsed real time)", ""]
    return lines


def reachable_line(required: int, reachable: int) -> str:
    """-x/-X's verdict, on stdout."""
    enough = "Enough" if reachable >= required else "Not enough"
    return f"{enough} hosts reachable (required: {required}, reachable: {reachable})"


def netdata(key: str, name: str, tally: Tally, every: float, first: bool) -> list[str]:
    """-N: a target's interval in netdata's plugin format (key: its name as given, made of
    letters, digits and '_'); the CHART and DIMENSION lines only the first time."""
    period = f"{every:.0f}"
    lines: list[str] = []
    if first:
        lines += [f"CHART fping.{key}_packets '' 'FPing Packets for host {name}' packets "
                  f"'{name}' fping.packets line 110020 {period}",
                  "DIMENSION xmt sent absolute 1 1", "DIMENSION rcv received absolute 1 1"]
    lines += [f"BEGIN fping.{key}_packets", f"SET xmt = {tally.sent}",
              f"SET rcv = {tally.received}", "END"]
    if first:
        lines += [f"CHART fping.{key}_quality '' 'FPing Quality for host {name}' percentage "
                  f"'{name}' fping.quality area 110010 {period}",
                  "DIMENSION returned '' absolute 1 1"]
    returned = tally.received * 100 // tally.sent if tally.sent else 0
    lines += [f"BEGIN fping.{key}_quality", f"SET returned = {returned}", "END"]
    if first:
        lines += [f"CHART fping.{key}_latency '' 'FPing Latency for host {name}' ms "
                  f"'{name}' fping.latency area 110000 {period}",
                  "DIMENSION min minimum absolute 1 1000000",
                  "DIMENSION max maximum absolute 1 1000000",
                  "DIMENSION avg average absolute 1 1000000"]
    lines.append(f"BEGIN fping.{key}_latency")
    if tally.received and tally.min is not None and tally.max is not None:
        lines += [f"SET min = {round(tally.min * 1e9)}",
                  f"SET avg = {round(tally.total / tally.received * 1e9)}",
                  f"SET max = {round(tally.max * 1e9)}"]
    lines.append("END")
    return lines
