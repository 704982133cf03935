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
from pathlib import Path

import pytest

# Modules the plain command must not load, and why they would be there.
OFF_THE_PATH = {
    "typing": "its NamedTuple compiles each field's annotation (13 M instructions a record); "
              "fastping._typing_lite makes the same records without it",
    "argparse": "with re and gettext, and the building of its parser: the usual arguments are "
                "read from cli.arguments.OPTIONS without it (help, errors and the rest with it)",
    "gettext": "with argparse",
    "signal": "signal.py builds three enums (3 M instructions): _signal is enough",
    "warnings": "0.8 M instructions: the binding warns of an unclosed engine with _warnings",
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
    "fastping.cli.records": "fastping's own JSON records: only --json",
    "fastping.cli.fping_json": "fping's JSON: only -J",
    "fastping.plot": "only for --plot and 'fastping plot'",
    "fastping.exporter": "only for 'fastping exporter'",
    "matplotlib": "only for charts",
    "subprocess": "nothing here runs a program",
    "logging": "nothing here logs",
}
# What the import hook of an editable install (pip install -e) loads as it finds fastping.
EDITABLE_HOOK_LOADS = {"importlib", "contextlib", "warnings"}


def imported_by(argv: list[str], source: str | None = None, script: Path | None = None,
                status: int = 0) -> set[str]:
    """The modules a fresh interpreter imports running the command with argv (by default as
    main() called from source; else the script given), which exits with status."""
    code = source or "import sys; from fastping.cli import main; sys.argv[1:] = {!r}; main()"
    run = ["-c", code.format(argv)] if script is None else [str(script), *argv]
    command = [sys.executable, "-X", "importtime", *run]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/",
                          env={**os.environ, "PYTHONWARNINGS": ""}, check=False)
    assert done.returncode == status, done.stderr[-2000:]
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


# What a quiet round (fping's -C N -q and -c N -q: lines written from the engine's columns)
# makes no use of, beyond the above: it makes no Result, so no Status.
OFF_A_QUIET_ROUND = {
    "enum": "9 M instructions, for Status: the Results of per-probe lines and sweeps need it",
    "fastping._engine_records": "Status, Health, Event, Counters: made at the first Result, "
                                "event or counters()",
}


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
@pytest.mark.parametrize("argv", [
    ["-C1", "-q", "127.0.0.1", "127.0.0.2"],
    ["-c", "2", "-p", "10", "-q", "127.0.0.1", "::1"],
])
def test_a_quiet_round_makes_no_status(argv: list[str]) -> None:
    modules = imported_by(argv)
    loaded = {name: why for name, why in OFF_A_QUIET_ROUND.items() if name in modules}
    assert not loaded, loaded
    # and a round that prints per probe makes them, as it must
    assert set(OFF_A_QUIET_ROUND) <= imported_by([a for a in argv if a != "-q"])


def test_the_installed_command_is_a_plain_script() -> None:
    # pip's console-script wrapper would import re to strip ".exe" from argv[0]: the wheel
    # carries a script of its own instead, whose first line pip points at this python.
    command = Path(sys.executable).with_name("fastping")
    if not command.exists():
        pytest.skip(f"fastping is not installed beside {sys.executable}")
    first_line = command.read_text().split("\n", 1)[0]
    assert first_line.startswith("#!") and first_line != "#!python", first_line
    # (re: 7.5 M instructions with the wrapper's one re.sub; a name to resolve loads it
    # still, with the idna codec.)
    modules = imported_by(["-c", "0", "127.0.0.1"], script=command, status=3)
    loaded = {name: why for name, why in OFF_THE_PATH.items() if name in modules}
    assert not loaded and "re" not in modules, loaded
    done = subprocess.run([str(command), "-c", "0", "127.0.0.1"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 3 and done.stderr.startswith("fastping: ") and not done.stdout
    if os.geteuid() == 0:  # (a round over raw sockets)
        done = subprocess.run([str(command), "-C1", "-q", "127.0.0.1", "127.0.0.2"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and done.stderr.startswith("127.0.0.1 : "), done


def test_bad_arguments_load_no_engine_work() -> None:
    # A usage error exits 3 before any socket: nothing past argument parsing loads.
    modules = imported_by(["-c", "0", "127.0.0.1"], status=3)
    loaded = {name: why for name, why in OFF_THE_PATH.items() if name in modules}
    assert not loaded, loaded


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
def test_the_options_that_need_a_module_still_load_it() -> None:
    # The lazy imports happen where they are needed: a check that the list above is honest.
    assert {"json", "fastping.cli.records"} <= imported_by(["--json", "-c", "1", "127.0.0.1"])
    assert {"json", "fastping.cli.fping_json"} <= imported_by(["-J", "-C1", "-q", "127.0.0.1"])
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


NO_SUCH_NAME = ("try:\n    {}.no_such_name\nexcept AttributeError:\n    pass\n"
                "else:\n    raise AssertionError('no AttributeError')\n")


def in_a_fresh_interpreter(code: str) -> None:
    """Runs code (its asserts) in an interpreter that has imported nothing yet."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd="/", check=False)
    assert done.returncode == 0, done.stderr[-2000:]


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
            + NO_SUCH_NAME.format("fastping"))
    in_a_fresh_interpreter(code)


# The command run as main() is, with an atexit callback when asked.
EXITING = '''import atexit, sys
if {at_exit!r}:
    atexit.register(print, "atexit ran", file=sys.stderr, flush=True)
from fastping.cli import main
sys.argv[1:] = {argv!r}
main()
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
@pytest.mark.parametrize("at_exit", [False, True])
def test_the_command_exits_at_once_with_its_output_written(at_exit: bool) -> None:
    # Python's shutdown (a tenth of a 1,000-target -C1 -q) is skipped once the output is
    # written, unless something is left to do at exit: an atexit callback runs as ever.
    targets = [f"127.0.9.{n}" for n in range(1, 201)]
    for argv, status in ((["-C1", *targets], 0), (["-s", "127.0.0.1", "nosuch.invalid"], 2)):
        done = subprocess.run([sys.executable, "-c", EXITING.format(at_exit=at_exit,
                                                                   argv=argv)],
                              capture_output=True, text=True, timeout=60, cwd="/", check=False)
        assert done.returncode == status, done.stderr[-2000:]
        if status == 0:  # every probe line and every summary, whole
            assert sorted(line.split()[0] for line in done.stdout.splitlines()) == sorted(
                targets)
            assert done.stderr.count(" : ") == len(targets) and done.stderr.endswith("\n")
        else:  # -s's block, to its last line
            assert "targets" in done.stderr and " sec (elapsed real time)" in done.stderr
        assert ("atexit ran" in done.stderr) is at_exit


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
def test_a_closed_pipe_is_reported_as_python_would() -> None:
    # Output that cannot be written: the command says so and exits 4, as it does before the
    # quick exit; the quick exit does not hide it.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "fastping", "-c", "1", "127.0.0.1"],
                              stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60,
                              cwd="/", check=False)
    finally:
        os.close(writer)
    assert done.returncode == 4 and done.stderr == "fastping: Broken pipe\n"


def test_the_records_made_on_first_use_are_the_same_names() -> None:
    # Health, Event and Counters are made when first used, off a round's path,
    # and are what they were: fastping._results' names (pickled by them), Health an enum.
    code = ("import enum, pickle, sys, typing\n"
            "from fastping import _results\n"
            "assert 'fastping._engine_records' not in sys.modules\n"
            "import fastping\n"
            "Health = fastping.Health\n"
            "assert Health is _results.Health and issubclass(Health, (str, enum.Enum))\n"
            "assert Health.__module__ == 'fastping._results' and str(Health.UP) == 'up'\n"
            "assert pickle.loads(pickle.dumps(Health.DOWN)) is Health.DOWN\n"
            "from fastping._results import Counters, Event\n"
            "assert Counters.__module__ == Event.__module__ == 'fastping._results'\n"
            "assert typing.get_type_hints(Event)['health'] == Health | None\n"
            "counters = Counters(*range(10))\n"
            "assert pickle.loads(pickle.dumps(counters)) == counters and counters.late == 6\n"
            + NO_SUCH_NAME.format("_results"))
    in_a_fresh_interpreter(code)
