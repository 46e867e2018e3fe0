"""How a front end shows a run's progress: a rich bar per phase on a terminal, a plain line per phase elsewhere.

``filterkit`` (``cli.py``) and the benchmarks both show progress through ``progress_display``; the library itself
only calls the ``progress(phase, done, total)`` callback it is handed (``filterkit.engine.pipeline.Progress``).
Off a terminal (a log file, CI, ``nohup``) a bar would print nothing until it ends, or a line of carriage returns,
so there each phase is a plain line every ``every_s`` seconds and once when it ends.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

PIPELINE_UNITS = {"dedup": "detectors"}
"""What the run engine's phases count, where not rows (``filterkit.engine.pipeline``)."""
EVERY_S = 30.0
"""Off a terminal, a phase's plain line comes this often (and when the phase ends)."""


def quiet_library_bars(stream: TextIO) -> None:
    """Off a terminal, turn off other libraries' progress bars (tqdm's, the Hugging Face hub's) unless already set.

    They would write a line of carriage returns into the log (weight loading, GGUF conversion, downloads) while the
    front end reports progress itself. Call it before those libraries are imported: tqdm reads ``TQDM_*`` variables
    once, at import. Worker processes inherit the variables."""
    if not stream.isatty():
        for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
            os.environ.setdefault(name, "1")


def clock(seconds: float | None) -> str:
    """``H:MM:SS``."""
    s = int(seconds or 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Count(ProgressColumn):
    """``1,200/50,000 rows``."""

    def render(self, task: Task) -> Text:
        count = f"{int(task.completed):,}/{int(task.total or 0):,} {task.fields['unit']}".rstrip()
        return Text(count, style="progress.download")


class _Rate(ProgressColumn):
    """``40 rows/s`` (over the last minute; the mean once finished), for phases counted in rows."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed and task.finished and task.elapsed:
            speed = task.completed / task.elapsed
        shown = speed and task.fields["unit"] == "rows"
        return Text(f"{speed:,.0f} rows/s" if shown else "", style="progress.data.speed")


class _Times(ProgressColumn):
    """``0:01:12 elapsed, 0:20:00 left``."""

    def render(self, task: Task) -> Text:
        elapsed = clock(task.finished_time if task.finished else task.elapsed)
        if task.finished:
            return Text(f"{elapsed} elapsed", style="progress.elapsed")
        left = task.time_remaining
        return Text(f"{elapsed} elapsed, {clock(left) if left is not None else '?'} left", style="progress.remaining")


class ProgressLines:
    """Progress as plain lines: ``score: 1,200/50,000 rows (2%), 40 rows/s, about 0:20:00 left``."""

    def __init__(self, console: Console, units: Mapping[str, str], default_unit: str = "rows",
                 every_s: float = EVERY_S, now: Callable[[], float] = time.monotonic) -> None:
        self.console, self.units, self.default_unit, self.every_s, self.now = console, units, default_unit, every_s, now
        self.phases: dict[str, tuple[float, int]] = {}  # phase: when it started, and where
        self.shown: dict[str, float] = {}  # phase: when its last line came (inf once it ended)

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.now()
        started, first = self.phases.setdefault(phase, (now, done))
        finished = done >= total
        last = self.shown.get(phase, started)
        if last == float("inf") or not finished and now - last < self.every_s:
            return
        self.shown[phase] = float("inf") if finished else now
        unit, elapsed = self.units.get(phase, self.default_unit), now - started
        # The rate counts from the phase's first report, so a resumed phase's earlier work does not inflate it.
        rate = (done - first) / elapsed if elapsed > 0 else 0.0
        line = f"{phase}: {done:,}/{total:,} {unit}".rstrip()
        line += f" ({done / total:.0%})" if total and not finished else ""
        if rate and unit == "rows":
            line += f", {rate:,.0f} {unit}/s"
        line += f", {clock(elapsed)} elapsed" if finished else (
            f", about {clock((total - done) / rate)} left" if rate else "")
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress_display(console: Console, units: Mapping[str, str] | None = None,
                     default_unit: str = "rows") -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(phase, done, total)`` callback: on a terminal a bar per phase with counts, rows/s and time left;
    elsewhere a plain line per phase every 30 s, never a line of carriage returns."""
    units = dict(units or {})
    if not console.is_terminal:
        yield ProgressLines(console, units, default_unit)
        return
    columns = (TextColumn("{task.description:>8}"), BarColumn(), _Count(), _Rate(), _Times())
    with Progress(*columns, console=console, transient=False, speed_estimate_period=60) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total, unit=units.get(phase, default_unit))
            bar.update(tasks[phase], completed=done, total=total)

        yield update
