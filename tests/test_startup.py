"""What the command loads before and while it pings: its start-up is part of every call.

A cron job or SmokePing's FPing probe starts ``fastping -C1 -q`` anew each time, so what it
imports is paid each time: these tests pin the modules that must stay off that path (each
costs a millisecond or more of start-up; benchmarks/compare.py --processes measures the whole).
Not a timing test: it reads the modules the interpreter reports loading (-X importtime).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Modules the plain command must not load, and why they would be there.
OFF_THE_PATH = {
    "typing": "its NamedTuple compiles each field's annotation (13 M instructions a record); "
              "fastping._typing_lite makes the same records without it",
    "argparse": "with re and gettext, and the building of its parser: the usual arguments are "
                "read from cli.arguments.OPTIONS without it (help, errors and the rest with it)",
    "gettext": "with argparse",
    "signal": "signal.py builds three enums (3 M instructions): _signal is enough",
    "contextlib": "2.8 M instructions for a suppress() in aping()'s close and an ExitStack",
    "importlib": "only to load the exporter",
    "socket": "socket.py builds enums of every constant (2 ms): _socket is enough",
    "selectors": "with socket.py",
    "ipaddress": "only for IPv6 literals, resolved names and -g",
    "json": "only for --json",
    "shutil": "argparse's help formatter, unless told its width; brings zlib, bz2, lzma",
    "bz2": "with shutil",
    "lzma": "with shutil",
    "dataclasses": "the monitor's records and HostStats: not for a round",
    "threading": "the monitor's thread",
    "asyncio": "only for aping() and the async API",
    "fastping.monitor": "only for -l",
    "fastping._stats": "HostStats: the API's, not the command's",
    "fastping.plot": "only for --plot and 'fastping plot'",
    "fastping.exporter": "only for 'fastping exporter'",
    "matplotlib": "only for charts",
    "subprocess": "nothing here runs a program",
    "logging": "nothing here logs",
}
# What the import hook of an editable install (pip install -e) loads as it finds fastping.
EDITABLE_HOOK_LOADS = {"importlib", "contextlib"}


def imported_by(argv: list[str], source: str | None = None) -> set[str]:
    """The modules a fresh interpreter imports running the command with argv."""
    code = source or "import sys; from fastping.cli import main; sys.argv[1:] = {!r}; main()"
    command = [sys.executable, "-X", "importtime", "-c", code.format(argv)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/",
                          env={**os.environ, "PYTHONWARNINGS": ""}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and not line.endswith("package"):
            modules.add(line.rsplit("|", 1)[1].strip())
    if "_editable_skbc_fastping" in modules:  # a development install's import hook loads them
        modules -= EDITABLE_HOOK_LOADS
    assert "fastping.cli" in modules
    return modules


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
@pytest.mark.parametrize("argv", [
    ["-C1", "-q", "127.0.0.1", "127.0.0.2"],
    ["-c", "1", "-p", "10", "127.0.0.1"],
    ["127.0.0.1", "localhost"],  # a sweep, with a name to resolve
])
def test_a_round_loads_nothing_it_does_not_use(argv: list[str]) -> None:
    modules = imported_by(argv)
    loaded = {name: why for name, why in OFF_THE_PATH.items() if name in modules}
    assert not loaded, loaded


def test_bad_arguments_load_no_engine_work() -> None:
    # A usage error exits 3 before any socket: nothing past argument parsing loads.
    code = ("import sys; from fastping.cli import main; sys.argv[1:] = {!r}\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code == 3\n")
    modules = imported_by(["-c", "0", "127.0.0.1"], code)
    loaded = {name: why for name, why in OFF_THE_PATH.items() if name in modules}
    assert not loaded, loaded


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
def test_the_options_that_need_a_module_still_load_it() -> None:
    # The lazy imports happen where they are needed: a check that the list above is honest.
    assert "json" in imported_by(["--json", "-c", "1", "127.0.0.1"])
    assert "ipaddress" in imported_by(["-C1", "-q", "-g", "127.0.0.0/30"])
    assert "ipaddress" in imported_by(["-C1", "-q", "::1"])


RECORD = '''from __future__ import annotations
class Record(NamedTuple):
    """A record."""
    name: str
    count: int = 0
    rtt: float | None = None
    @property
    def doubled(self) -> int:
        return self.count * 2
    def renamed(self, name: str) -> Record:
        return self._replace(name=name)
'''


def test_records_made_without_typing_are_typings_records() -> None:
    # The same class statement under typing.NamedTuple and fastping._typing_lite's: the same
    # fields, defaults, methods, repr, equality, pickling; a field without a default after
    # one with a default is refused, as typing refuses it.
    import pickle
    import typing

    from fastping import Result, Status, Tally, _typing_lite

    made = {}
    for maker in (typing.NamedTuple, _typing_lite.NamedTuple):
        namespace = {"NamedTuple": maker, "__name__": __name__}
        exec(compile(RECORD, "<record>", "exec"), namespace)
        made[maker] = namespace["Record"]
    typed, lite = made[typing.NamedTuple], made[_typing_lite.NamedTuple]
    assert lite is not typed and lite.__bases__ == typed.__bases__ == (tuple,)
    assert lite._fields == typed._fields and lite._field_defaults == typed._field_defaults
    assert lite.__doc__ == typed.__doc__ == "A record."
    assert lite.__module__ == typed.__module__ and lite.__qualname__ == typed.__qualname__
    assert list(lite.__annotations__) == list(typed.__annotations__)
    record = lite("a", 2)
    assert repr(record) == repr(typed("a", 2)) == "Record(name='a', count=2, rtt=None)"
    assert record == typed("a", 2) and record.doubled == 4
    assert record.renamed("b") == ("b", 2, None) and type(record.renamed("b")) is lite
    with pytest.raises(TypeError):
        exec("class Bad(NamedTuple):\n    first: int = 0\n    second: int\n",
             {"NamedTuple": _typing_lite.NamedTuple, "__name__": __name__})
    # The package's own records, as users see them.
    result = Result("127.0.0.1", "127.0.0.1", Status.OK, 0.001)
    assert pickle.loads(pickle.dumps(result)) == result and isinstance(result, tuple)
    assert repr(Tally(sent=1)).startswith("Tally(sent=1, received=0,")
    assert Tally(1, 1, total=0.5).avg == 0.5
    assert typing.get_type_hints(Result)["rtt"] == float | None


@pytest.mark.parametrize("argv", [
    [],
    ["127.0.0.1"],
    ["-C1", "-q", "-t", "500", "-f", "targets.txt"],
    ["-C", "1", "-q", "127.0.0.1", "::1"],
    ["127.0.0.1", "-c", "3", "-p", "10", "127.0.0.2", "--period=20", "-s"],
    ["--vcount=2", "--quiet", "--timeout", "inf", "-i", "1e3", "-b", "1_000", "localhost"],
    ["-4", "-6", "-a", "-u", "-n", "-d", "-J", "-R", "--print-tos", "--oiface", "eth0"],
    ["-O", "0x10", "-H", "64", "-S", "127.0.0.1", "-I", "lo", "-x", "1", "-X", "2", "-T", "5"],
    ["-D", "--timestamp-format", "iso", "-Q", "1,cumulative", "-l", "--table", "--json"],
    ["--plot", "x.png", "-g", "127.0.0.0/30", "-k", "1", "--seqmap-timeout", "10", "-e", "-A"],
    ["-m", "-N", "-o", "-M", "--print-ttl", "--icmp-timestamp", "--check-source", "-B", "2"],
    ["", "-r", "0", "--print-reply-dst", "-f", "-x"],  # no: a value that looks like an option
    # argparse's alone: clusters, abbreviations, '--', bad values, help and version
    ["-qs", "127.0.0.1"], ["--time", "5", "127.0.0.1"], ["--", "127.0.0.1"],
    ["-c", "-1", "127.0.0.1"], ["-c", "x", "::1"], ["--timestamp-format", "bogus", "-D"],
    ["--timestamp-format", "ctime", "-D"], ["-h"], ["-v", "127.0.0.1"],
])
def test_the_usual_arguments_parse_as_argparse_parses_them(argv: list[str]) -> None:
    # The command reads the usual command line without argparse: what it makes of one is what
    # argparse's parser, built from the same table, makes of it; what it leaves to argparse
    # (None) argparse parses in full.
    from fastping.cli import arguments

    parsed = arguments._parse_usual(argv)
    try:
        expected = vars(arguments.parser().parse_intermixed_args(argv))
    except SystemExit:
        assert parsed is None
        return
    assert parsed is None or vars(parsed) == expected
    assert vars(arguments.parse(argv)) == expected


@pytest.mark.parametrize("argv", [
    ["-C1", "-q", "127.0.0.1"], ["--vcount=1", "127.0.0.1", "--quiet"], ["-c", "1", "-s", "::1"],
])
def test_the_usual_arguments_need_no_argparse(argv: list[str]) -> None:
    from fastping.cli import arguments

    assert arguments._parse_usual(argv) is not None


@pytest.mark.parametrize("block", [3, 7, 1 << 16])
def test_a_targets_file_read_in_blocks_gives_each_lines_first_word(
        block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file is read a block at a time (the command's start-up for 10,000 targets): the usual
    # block, one name a line, is taken whole; any other is read a line at a time. Either way
    # each line's first word, comments and blank lines skipped, lines split across blocks.
    import io

    from fastping.cli import arguments, targets

    monkeypatch.setattr(targets, "BLOCK", block)
    plain = "".join(f"127.0.{n // 250}.{n % 250 + 1}\n" for n in range(600))
    assert targets._names(io.StringIO(plain)) == plain.split()
    mixed = ("127.0.0.1\n  ::1  trailing words\n\n# a comment\n#127.0.0.2\nlocalhost\n"
             "\tnamé\r\n127.0.0.3")
    assert targets._names(io.StringIO(mixed)) == ["127.0.0.1", "::1", "localhost", "namé",
                                                  "127.0.0.3"]
    with pytest.raises(arguments.UsageError, match="target name too long"):
        targets._names(io.StringIO(plain + "a" * 256 + "\n"))
    with pytest.raises(arguments.UsageError, match="target name too long"):
        targets._names(io.StringIO("é" * 128 + "\n"))  # 256 bytes
    assert targets._names(io.StringIO("é" * 127 + "a\n")) == ["é" * 127 + "a"]
    with pytest.raises(arguments.UsageError, match="a line of more than"):
        targets._names(io.StringIO("127.0.0.1 " + "x" * 2 * targets.MAX_LINE + "\n"))


def test_the_package_loads_each_public_names_module_on_first_use() -> None:
    # import fastping alone loads none of its modules but its version; each public name
    # loads its own on first use, by attribute or by from-import, and is the module's object.
    code = ("import sys, fastping\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('fastping.'))\n"
            "assert loaded == ['fastping._typing_lite', 'fastping._version'], loaded\n"
            "assert 'typing' not in sys.modules\n"
            "from fastping import Result\n"
            "assert 'fastping.pinger' not in sys.modules\n"
            "from fastping import _results, pinger\n"
            "assert fastping.Result is Result is _results.Result\n"
            "assert fastping.ping is pinger.ping and 'fastping.monitor' not in sys.modules\n"
            "assert set(fastping.__all__) <= set(dir(fastping))\n"
            "assert all(getattr(fastping, name) is not None for name in fastping.__all__)\n"
            "try:\n    fastping.no_such_name\nexcept AttributeError:\n    pass\n"
            "else:\n    raise AssertionError('no AttributeError')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd="/", check=False)
    assert done.returncode == 0, done.stderr[-2000:]
