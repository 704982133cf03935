"""Adding the targets to the engine as fping adds them: each name resolved (with -m, to every
address it has), shown as given, by address (-A) or by reverse DNS (-n, -d), and a name
that does not resolve reported with the resolver's words."""

from __future__ import annotations

import _socket as socket  # not socket.py, which builds enums on import (2 ms of a start)

from .._resolve import FAMILIES, parse_literal
from .._typing_lite import TYPE_CHECKING
from ..pinger import Pinger

if TYPE_CHECKING:
    import argparse

    from ..monitor import Monitor
    from .report import Run

NOT_KNOWN = "Name or service not known"
WRONG_FAMILY = "Address family for hostname not supported"
BULK = 4096  # literals added per call: a Ctrl-C is seen between two


def _literal_error(name: str, family: int | None) -> str | None:
    """What getaddrinfo would say of a literal fping could not use, if anything."""
    try:
        literal = parse_literal(name)
    except ValueError:
        return NOT_KNOWN
    if literal is not None and family is not None and literal.family != FAMILIES[family]:
        return WRONG_FAMILY
    return None


def _reverse(address: str) -> str | None:
    try:
        return socket.getnameinfo((address, 0), 0)[0]
    except (OSError, UnicodeError):
        return None


def shown_name(name: str, address: str, args: argparse.Namespace) -> str:
    """How fping shows a target: as given; -n: an address given by its name; -d: always by
    its name; -A: by address (after its name, with -n or -d)."""
    printed = name
    if args.rdns or (args.name and parse_literal(name) is not None):
        printed = _reverse(address) or name
    if args.addr:
        return f"{printed} ({address})" if args.name or args.rdns else address
    return printed


def _addresses(name: str, family: int | None) -> list[str]:
    """-m: every address of name, in the resolver's order, each once."""
    infos = socket.getaddrinfo(name, None,
                               FAMILIES[family] if family else socket.AF_UNSPEC,
                               socket.SOCK_DGRAM)
    found = [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    return list(dict.fromkeys(found))


def _resolver_words(error: Exception) -> str:
    """The resolver's own message (fastping's errors add the name before it); a name the
    resolver would not take (one too long for DNS, say) is one it does not know."""
    if isinstance(error, socket.gaierror):
        return str(error.strerror).rpartition(": ")[2] or NOT_KNOWN
    return NOT_KNOWN


def add_targets(owner: Pinger | Monitor, run: Run, names: list[str]) -> None:
    """Adds the targets in order until a Ctrl-C (resolving names can take long). Each is
    added under a key of its own (its name, or with -m each address): a name given twice is
    probed once. A Pinger takes runs of IPv4 literals shown as given in one call each."""
    args = run.args
    family = args.family or args.family6
    renamed = args.addr or args.name or args.rdns
    bulk = isinstance(owner, Pinger) and family in (None, 4) and not (args.all or renamed)
    run.signals.owner = owner
    number = 0
    while number < len(names):
        if run.signals.finish:
            # A Ctrl-C while names are resolved: the rest are reported too, never probed.
            for rest in names[number:]:
                run.add_name(rest.strip(), rest.strip(), rest.strip())
            return
        if bulk and isinstance(owner, Pinger):  # (mypy)
            stop = owner._add_ipv4_literals(names, number, number + BULK)
            if stop > number:
                run.add_literals(names[number:stop])
                number = stop
                continue
        _add_target(owner, run, names[number].strip(), family)
        number += 1


def _add_target(owner: Pinger | Monitor, run: Run, name: str, family: int | None) -> None:
    """Adds one target (surrounding whitespace is no part of a name: fping would not
    resolve it), or notes why it cannot be."""
    args = run.args
    # (Without -4 or -6, a bad literal fails to be added, as any name that is not known.)
    problem = None if family is None else _literal_error(name, family)
    if problem is not None or not name:
        run.note_unknown(name, problem or NOT_KNOWN)
        return
    try:
        keys = _addresses(name, family) if args.all else [name]
        for key in keys:
            if key not in run.names:
                address = owner.add(key)
                renamed = args.addr or args.name or args.rdns
                run.add_name(key, name, shown_name(name, address, args) if renamed else name)
    except (ValueError, socket.gaierror, UnicodeError) as error:
        run.note_unknown(name, _resolver_words(error))
