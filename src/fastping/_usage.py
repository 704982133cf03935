"""The commands' argument parser: argparse's, with fastping's usage errors (see _common)."""

from __future__ import annotations

import argparse
import os
from typing import Any, NoReturn

from ._common import EXIT_USAGE


def _help_columns() -> int:
    """The width help is wrapped to, as shutil.get_terminal_size() finds it (less 2)."""
    try:
        return int(os.environ["COLUMNS"]) - 2
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(1).columns - 2
    except OSError:
        return 78


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's, told its width: left to find it, it imports shutil, and with it zlib, bz2
    and lzma (3 ms of every start), for every argument added, though only --help prints."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_help_columns())


class UsageParser(argparse.ArgumentParser):
    """An argument parser whose every error is one line on stderr and exit status 3."""

    def __init__(self, **keywords: Any) -> None:
        keywords.setdefault("formatter_class", _HelpFormatter)
        super().__init__(**keywords)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")
