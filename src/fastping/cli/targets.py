"""The command's targets, as fping reads them: HOSTs, else -f FILE, else standard input; with
-g, HOST is a network (CIDR) or two HOSTs a range of addresses."""

from __future__ import annotations

import _socket as socket  # not socket.py (see fastping._resolve)
import sys

from .._typing_lite import TYPE_CHECKING
from .arguments import UsageError

if TYPE_CHECKING:
    import argparse
    import ipaddress
    from typing import TextIO

# fping's limits: -g makes at most this many addresses (the hosts of an IPv6 /111, two more
# than those of an IPv4 /15), and a name read from a file may have 255 bytes.
MAX_GENERATE = 131072
MAX_NAME = 255
MAX_LINE = 1 << 16  # characters in a line of a file, the words after the first skipped
MAX_TARGETS = 1 << 20  # per run, from a file or standard input (the engine handles a million)
BLOCK = 1 << 16  # characters of a file read at a time
# What str.split() takes for a space in ASCII text, but the newline
_SPACES = (" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


class SystemFailure(Exception):
    """A file could not be opened: fping's exit status 4."""


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    import ipaddress  # only -g needs it: 1.3 ms of every other start

    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"can't parse address {text}: Name or service not known") from None


def _network(cidr: str) -> list[str]:
    address, slash, mask_text = cidr.rpartition("/")
    if not slash:
        raise UsageError("-g takes a network as ADDRESS/MASK or a range as START END")
    first = _address(address)
    try:
        mask = int(mask_text)
    except ValueError:
        mask = -1
    least, most = (1, 32) if first.version == 4 else (65, 128)
    if not least <= mask <= most:
        raise UsageError(f"netmask must be between {least} and {most} (is: {mask_text})")
    bits = first.max_prefixlen - mask
    start = int(first) >> bits << bits
    end = start + (1 << bits) - 1
    # fping leaves out an IPv4 network's network and broadcast addresses, but for /31, /32.
    if first.version == 4 and mask < 31:
        start, end = start + 1, end - 1
    return _span(first.version, start, end)


def _span(version: int, start: int, end: int) -> list[str]:
    if end - start >= MAX_GENERATE:
        raise UsageError("-g parameter generates too many addresses")
    # inet_ntop, not ipaddress's objects: a third of the time, for 131,072 of them
    family, size = (socket.AF_INET, 4) if version == 4 else (socket.AF_INET6, 16)
    text = socket.inet_ntop
    return [text(family, number.to_bytes(size, "big")) for number in range(start, end + 1)]


def _range(start_text: str, end_text: str) -> list[str]:
    start, end = _address(start_text), _address(end_text)
    if start.version != end.version:
        raise UsageError(f"can't parse address {end_text}: Address family for hostname "
                         "not supported")
    return _span(start.version, int(start), int(end))


def _read(path: str, stdin: TextIO) -> list[str]:
    """As fping reads a file: the first word of each line, skipping lines whose first word
    starts with '#'; a name longer than 255 bytes is refused. Lines are bounded, and names
    at most MAX_TARGETS: /dev/zero is refused, not read into memory."""
    file = stdin
    if path != "-":
        try:
            file = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        except OSError as error:
            raise SystemFailure(f"fopen : {error.strerror}") from None
    try:
        return _names(file)
    except OSError as error:  # (a read that fails: EIO, a directory)
        raise SystemFailure(f"read : {error.strerror}") from None
    finally:
        if file is not stdin:  # (not contextlib's ExitStack: its import is 2.8 M instructions)
            file.close()


def _names(file: TextIO) -> list[str]:
    """The targets of an open file (see _read), read a block at a time."""
    names: list[str] = []
    rest = ""  # the start of a line that the blocks so far did not end
    while block := file.read(BLOCK):
        text = rest + block
        cut = text.rfind("\n") + 1
        rest = text[cut:]
        names += _first_words(text[:cut])
        if len(rest) > MAX_NAME:  # more than a name: enough of it to tell, the rest skipped
            words = _long_line(file, rest)
            names += _first_words(words[0] if words else "")
            rest = ""
        if len(names) > MAX_TARGETS:
            raise UsageError(f"more than {MAX_TARGETS} targets")
    return names + _first_words(rest)


def _first_words(lines: str) -> list[str]:
    """The names of whole lines (the last may lack its newline): each line's first word,
    but for lines without any or whose first starts with '#'."""
    # The usual block, a name a line: ASCII (its characters are its bytes), without comments
    # or spaces (its words are its lines), each word short enough.
    if lines.isascii() and "#" not in lines and not any(space in lines for space in _SPACES):
        words = lines.split()
        if not words or max(map(len, words)) <= MAX_NAME:
            return words
    names = []
    for line in lines.split("\n"):
        words = line.split(None, 1)
        if not words:
            continue
        # (A comment's first word too: fping reads as much of any line.)
        if len(words[0].encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise UsageError("target name too long")
        if len(line) > MAX_LINE:
            raise UsageError(f"a line of more than {MAX_LINE} characters")
        if not words[0].startswith("#"):
            names.append(words[0])
    return names


def _long_line(file: TextIO, line: str) -> list[str]:
    """The words of a line begun but not yet read whole: enough of it to see a first word
    too long, the rest skipped."""
    while not line.endswith("\n") and len(line) <= MAX_NAME + 1:
        more = file.readline(MAX_NAME + 1)
        if not more:
            break
        line += more
    words = line.split(None, 1)
    if words and len(words[0].encode("utf-8", "surrogateescape")) > MAX_NAME:
        raise UsageError("target name too long")
    skipped, length = line, len(line)
    while skipped and not skipped.endswith("\n"):
        if length > MAX_LINE:
            raise UsageError(f"a line of more than {MAX_LINE} characters")
        skipped = file.readline(MAX_NAME + 1)
        length += len(skipped)
    return words


def targets(args: argparse.Namespace, stdin: TextIO | None = None) -> list[str]:
    """The names to probe, in order (repeats kept: the caller probes each name once)."""
    given = list(args.targets)
    if (given and args.file) or (args.file and args.generate) or (args.generate and not given):
        raise UsageError("give HOSTs, or -f FILE, or -g with a network or a range")
    if args.generate:
        if len(given) == 1:
            return _network(given[0])
        if len(given) == 2:
            return _range(*given)
        raise UsageError("-g takes a network (ADDRESS/MASK) or a range (START END)")
    if given:
        return given
    return _read(args.file or "-", sys.stdin if stdin is None else stdin)
