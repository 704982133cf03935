"""Work other threads hand to a Monitor's loop: each a callable and the Future its caller
waits on, carried out on the loop's thread, the only one that touches the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future

Request = tuple[Callable[[], Any], "Future[Any]"]


def new_future() -> Future[Any]:
    # Only threaded use needs it: the CLI and the exporter's start-up don't pay its import.
    from concurrent.futures import Future

    return Future()


def serve(requests: list[Request]) -> None:
    """Carry out other threads' requests, handing each its result or exception."""
    for work, future in requests:
        try:
            future.set_result(work())
        except BaseException as error:
            future.set_exception(error)
