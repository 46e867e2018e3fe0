"""What every family's ``__main__.py`` shares: subcommand dispatch, the progress bar, errors, detector options.

Each family is run from the repository root as ``python -m benchmarks.<family> [SUBCOMMAND] [OPTIONS]``. A family
with several benchmarks lists them as ``{name: Subcommand(module, help)}`` and calls ``dispatch``, which imports
only the chosen module and hands it the rest of the command line (``main(argv)``); ``--help`` after a subcommand
is that module's own. The benchmarks never import ``cli``: the options they share with ``filterkit`` are parsed
here the same way.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console

if TYPE_CHECKING:
    pass

console = Console(stderr=True)
"""Progress and errors go to stderr; results are printed to stdout."""


@dataclass(frozen=True)
class Subcommand:
    """One benchmark of a family: the module whose ``main(argv)`` runs it, and one line for the family's help."""

    module: str
    help: str


def dispatch(family: str, description: str, subcommands: Mapping[str, Subcommand],
             argv: Sequence[str] | None = None) -> None:
    """Run ``python -m benchmarks.<family> SUBCOMMAND ...``: the subcommand's module gets the words after it."""
    from filterkit.engine.progress import quiet_library_bars

    quiet_library_bars(sys.stderr)  # before the subcommand's module imports tqdm
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in subcommands:
        module = importlib.import_module(subcommands[words[0]].module)
        module.main(words[1:])
        return
    prog = f"python -m benchmarks.{family}"
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     epilog=f"Each subcommand's options: {prog} SUBCOMMAND --help")
    choices = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    for name, sub in subcommands.items():
        choices.add_parser(name, help=sub.help)
    parser.parse_args(words)  # prints the help, or the error (a missing or unknown subcommand), and exits
    parser.error("a subcommand is needed")


def log_warnings(verbose: bool = False) -> None:
    """Log as ``filterkit`` does: warnings (with ``--verbose``, progress details too) as ``LEVEL name: message``."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def progress(units: Mapping[str, str] | None = None,
             default_unit: str = "") -> AbstractContextManager[Callable[[str, int, int], None]]:
    """A ``progress(phase, done, total)`` callback on stderr as ``filterkit`` shows it: a bar per phase on a
    terminal, a plain line per phase every 30 s elsewhere (a log under ``nohup``). ``units``: what each phase counts
    (``default_unit`` where unnamed); a run of the filterkit pipeline passes ``PIPELINE_UNITS`` and ``"rows"``."""
    from filterkit.engine.progress import progress_display

    return progress_display(console, units, default_unit)


def fail(exc: Exception) -> NoReturn:
    """Print ``error: ...`` on stderr and exit with status 2 (a usage error), as ``filterkit`` does."""
    console.print(f"[red]error:[/red] {exc}")
    raise SystemExit(2)


