"""fping's JSON output (-J; fping 5.5's doc/fping-json.md): one object per line on stdout,
``{"type": {fields}}``, with fping's spacing and its RTTs as sprint_tm prints them (numbers
in ms). fastping's own --json schema is records.py's."""

from __future__ import annotations

import time

from .._typing_lite import TYPE_CHECKING
from .fping_formats import clock, loss_percent, ms

if TYPE_CHECKING:
    import argparse

    from .._results import Result, Tally
    from .tallies import Totals


def _string(text: str) -> str:
    import json  # only -J needs it: 2 ms of every other start

    return json.dumps(text, ensure_ascii=False)


def _stamp(style: str | None, when: float) -> str:
    """-D inside an object: its first field."""
    return "" if style is None else f'"timestamp": "{clock(style, when)}", '


def reply(name: str, number: int, size: int, result: Result, stamp: str | None,
          args: argparse.Namespace) -> str:
    rtt = ms(result.rtt or 0.0)
    stamps = result.timestamps
    times = "" if stamps is None else (
        f', "timestamps": {{"originate": {stamps.originate}, "receive": {stamps.receive}, '
        f'"transmit": {stamps.transmit}, "localreceive": {stamps.local_receive}}}')
    # (fping's order: the reply's destination, TOS, TTL; -1 for a value it could not read)
    to = "" if not args.print_reply_dst else \
        f', "src": {_string(result.destination or "unknown")}'
    tos = "" if not args.print_tos else f', "tos": {-1 if result.tos is None else result.tos}'
    ttl = "" if not args.print_ttl else f', "ttl": {-1 if result.ttl is None else result.ttl}'
    return (f'{{"resp": {{{_stamp(stamp, time.time())}"host": {_string(name)}, '
            f'"seq": {number}, "size": {size + 8}, "rtt": {rtt}{times}{to}{tos}{ttl}}}}}')


def timeout(name: str, number: int, stamp: str | None) -> str:
    return (f'{{"timeout": {{{_stamp(stamp, time.time())}"host": {_string(name)}, '
            f'"seq": {number}}}}}')


def _counts(tally: Tally, outage_period: float | None) -> str:
    sent, received = tally.sent, tally.received
    text = f'"xmt": {sent}, "rcv": {received}, "loss": {loss_percent(sent, received)}'
    if outage_period is not None:
        text += f', "outage(ms)": {int((sent - received) * outage_period * 1000)}'
    if tally.received and tally.min is not None and tally.max is not None:
        average = tally.total / tally.received
        text += (f', "rttMin": {ms(tally.min)}, "rttAvg": {ms(average)}, '
                 f'"rttMax": {ms(tally.max)}')
    return text


def summary(name: str, tally: Tally, outage_period: float | None) -> str:
    return f'{{"summary": {{"host": {_string(name)}, {_counts(tally, outage_period)}}}}}'


def interval(name: str, tally: Tally, outage_period: float | None) -> str:
    """-Q's (and SIGQUIT's) record: a target's counts over the interval."""
    return (f'{{"intSum": {{"time": {int(time.time())},"host": {_string(name)}, '
            f'{_counts(tally, outage_period)}}}}}')


def every_rtt(name: str, rtts: list[float | None]) -> str:
    values = ", ".join(["null" if rtt is None else ms(rtt) for rtt in rtts])
    return f'{{"vSum": {{"host": {_string(name)}, "values": [{values}]}}}}'


def stats(totals: Totals) -> str:
    return (f'{{"stats": {{"targets": {totals.targets}, "alive": {totals.alive}, '
            f'"unreachable": {totals.unreachable}, "unknownAddresses": {totals.unknown}, '
            f'"timeouts": {totals.timeouts}, "icmpEchosSent": {totals.sent}, '
            f'"icmpEchoRepliesReceived": {totals.received + totals.duplicates}, '
            f'"otherIcmpReceived": {totals.errors}, "rttMin": {ms(totals.least or 0.0)}, '
            f'"rttAvg": {ms(totals.average or 0.0)}, "rttMax": {ms(totals.greatest or 0.0)}, '
            f'"elapsed": {totals.elapsed:.3f}}}}}')
