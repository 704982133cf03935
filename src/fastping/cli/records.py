"""The command's JSON records (--json), one object a line; the README gives the schema."""

from __future__ import annotations

import time

from .._typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from .._results import Result, Tally
    from ..monitor import MonitorEvent
    from .tallies import Totals


def json_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 6)


def probe(result: Result, number: int) -> dict[str, object]:
    """A reply or a loss; number counts the target's probes from 0."""
    record: dict[str, object] = {
        "type": "reply" if result.ok else "loss", "host": result.host,
        "address": result.address, "seq": number, "time": round(time.time(), 6),
    }
    if result.ok:
        record.update(rtt_ms=json_ms(result.rtt), ttl=result.ttl)
    else:
        record.update(status=str(result.status))
        if result.router is not None:
            record.update(router=result.router, icmp_type=result.icmp_type,
                          icmp_code=result.icmp_code)
        if result.errno is not None:
            record.update(errno=result.errno)
    return record


def host(target: str, answer: Result | None) -> dict[str, object]:
    """A swept target."""
    return {"type": "host", "host": target, "alive": answer is not None,
            "rtt_ms": json_ms(answer.rtt) if answer else None}


def health(event: MonitorEvent) -> dict[str, object]:
    """-l: a target's health changed."""
    return {"type": "health", "host": event.host, "address": event.address,
            "health": str(event.health), "previous": str(event.previous),
            "time": round(event.time, 6)}


def unknown(target: str, error: str) -> dict[str, object]:
    return {"type": "unknown", "host": target, "error": error}


def summary(target: str, tally: Tally, interval: bool,
            rtts: list[float | None] | None = None) -> dict[str, object]:
    """A target's counts (over the last interval, if interval); with -C, its every RTT."""
    record: dict[str, object] = {
        "type": "summary", "host": target, "interval": interval, "sent": tally.sent,
        "received": tally.received, "duplicates": tally.duplicates, "loss": tally.loss,
        "min_ms": json_ms(tally.min), "avg_ms": json_ms(tally.avg),
        "max_ms": json_ms(tally.max), "stddev_ms": json_ms(tally.stddev),
    }
    if rtts is not None:
        record["rtts_ms"] = [json_ms(rtt) for rtt in rtts]
    return record


def total(totals: Totals) -> dict[str, object]:
    """The whole run, as the -s block."""
    return {"type": "total", "targets": totals.targets + totals.unknown, "alive": totals.alive,
            "unreachable": totals.unreachable, "unknown": totals.unknown,
            "sent": totals.sent, "received": totals.received, "duplicates": totals.duplicates,
            "min_ms": json_ms(totals.least), "avg_ms": json_ms(totals.average),
            "max_ms": json_ms(totals.greatest), "elapsed_s": round(totals.elapsed, 6)}
