"""broadcast.py: one iterator's chunks for several consumers at their own paces, bounded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from fastping.exporter.broadcast import Broadcast


class Source:
    """count chunks, recording how many were made; raises after fail_after if given."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.count, self.fail_after = count, fail_after
        self.made = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for number in range(self.count):
                if number == self.fail_after:
                    raise RuntimeError("the engine closed")
                self.made += 1
                yield b"%d," % number
        finally:
            self.closed = True


def test_every_consumer_gets_every_chunk_made_once() -> None:
    source = Source(200)
    shared = Broadcast(iter(source), ahead=3)
    keys = [Broadcast.FIRST, shared.join(), shared.join()]
    texts: dict[int, bytes] = {}

    def consume(key: int) -> None:
        texts[key] = b"".join(shared.follow(key))

    threads = [threading.Thread(target=consume, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    expected = b"".join(b"%d," % number for number in range(200))
    assert len(texts) == 3 and all(text == expected for text in texts.values())
    assert source.made == 200


def test_the_fastest_waits_for_the_slowest_and_late_comers_are_refused() -> None:
    source = Source(100)
    shared = Broadcast(iter(source), ahead=3)
    fast, slow = shared.follow(Broadcast.FIRST), shared.follow(shared.join())
    assert next(slow) == b"0,"
    done = threading.Event()
    taken: list[bytes] = []

    def race() -> None:
        taken.extend(fast)
        done.set()

    threading.Thread(target=race, daemon=True).start()
    assert not done.wait(0.3)  # held at most 3 chunks ahead of the slow one
    assert source.made <= 4
    assert shared.join() is None  # its first chunk is gone: too late
    slow.close()  # the slow one leaves: the fast one goes on alone
    assert done.wait(10) and len(taken) == 100


def test_an_error_reaches_every_consumer_and_leaving_closes_the_source() -> None:
    shared = Broadcast(iter(Source(10, fail_after=5)), ahead=10)  # one after the other
    for key in (Broadcast.FIRST, shared.join()):
        with pytest.raises(RuntimeError, match="the engine closed"):
            b"".join(shared.follow(key))
    source = Source(10)
    shared = Broadcast(iter(source), ahead=2)
    first = shared.follow(Broadcast.FIRST)
    assert next(first) == b"0,"
    first.close()
    assert source.closed and shared.join() is None
