"""Type stub for the compiled core (src/_core/_engine.pyx)."""

from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

from ._results import Result, Status

# (kind, host index, seq, rtt seconds, ttl, icmp type, icmp code, router, errno,
#  cause, health, previous health, the outcome as a Result)
EventTuple = tuple[
    int, int, int, float, int, int, int, str | None, int, int, int, int, Result | None
]
RunStatus = Literal["idle", "full", "deadline", "woken", "events"]

REPLY: int
TIMEOUT: int
ICMP_ERROR: int
SEND_ERROR: int
DUPLICATE: int
HEALTH: int
TAG_LEN: int
PERMISSION_HELP: str
RAW_PERMISSION_HELP: str

class Engine:
    def __init__(
        self,
        *,
        timeout: float,
        payload_size: int,
        ttl: int | None = ...,
        tos: int | None = ...,
        privileged: bool | None = ...,
        source4: bytes | None = ...,
        source6: bytes | None = ...,
        interface: str | None = ...,
    ) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def add_host(
        self,
        family: int,
        packed: bytes,
        scope_id: int = ...,
        name: str | None = ...,
        address: str | None = ...,
    ) -> int: ...
    def remove_host(self, index: int) -> None: ...
    def schedule(self, index: int, delay: float = ..., period: float = ...) -> None: ...
    def schedule_now(self, indexes: Iterable[int]) -> None: ...
    def set_send_slack(self, slack: float) -> None: ...
    def set_send_gap(self, gap: float) -> None: ...
    def cancel_all(self) -> None: ...
    def reserve(self, replies_in_flight: int) -> None: ...
    def wake(self) -> None: ...
    def run(
        self,
        timeout: float | None = ...,
        until_idle: bool = ...,
        prompt: bool = ...,
        results: dict[int, Result] | None = ...,
        replies: list[Result] | None = ...,
    ) -> tuple[RunStatus, list[EventTuple]]: ...
    def fileno(self) -> int: ...
    def track(
        self,
        down_after: int,
        up_after: int,
        window: int,
        report_outcomes: bool,
        buckets: Sequence[float] = ...,
    ) -> None: ...
    def track_summary(self, index: int) -> dict[str, Any]: ...
    def track_histogram(self, index: int) -> tuple[tuple[int, ...], float, int]: ...
    def counters(self) -> dict[str, int]: ...
    def resources(self) -> dict[str, int]: ...
    def identifier(self, family: int) -> int | None: ...
    def is_raw(self, family: int) -> bool | None: ...

_TupleT = TypeVar("_TupleT", bound=tuple[Any, ...])

def new_untracked(cls: type[_TupleT], values: tuple[Any, ...]) -> _TupleT: ...
def set_result_types(
    result_type: type[Result],
    ok: Status,
    timeout: Status,
    icmp_error: Status,
    send_error: Status,
    error_statuses: dict[int, dict[int, Status]],
) -> None: ...
def monotonic_ns() -> int: ...
def checksum(data: bytes | bytearray | memoryview) -> int: ...
def build_echo(ipv6: bool, ident: int, serial: int, cookie: bytes, payload_size: int) -> bytes: ...
def siphash24(key: bytes, data: bytes | bytearray | memoryview) -> int: ...
def probe_cookie(key: bytes, serial: int, address: bytes) -> bytes: ...
def parse(
    layer: Literal["ipv4", "icmp4", "icmp6"], data: bytes | bytearray | memoryview
) -> tuple[
    int, int | None, int | None, int | None, int | None, int | None, bytes | None, bytes | None
]: ...
