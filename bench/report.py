"""How the benchmarks end their report: a verdict per target and the command that reproduces them."""

from __future__ import annotations

import shlex
import sys
from contextlib import suppress
from pathlib import Path


def verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


def command_line() -> str:
    """The command that ran this benchmark, with the interpreter relative to the working directory."""
    python = Path(sys.executable)
    with suppress(ValueError):
        python = python.relative_to(Path.cwd())
    return shlex.join([str(python), *sys.argv])
