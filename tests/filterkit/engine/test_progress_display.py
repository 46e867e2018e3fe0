"""How progress shows off a terminal (a log file, CI, nohup): a plain line per phase, never a bar."""
from __future__ import annotations

import io
import os

from rich.console import Console

from filterkit.engine.progress import PIPELINE_UNITS, ProgressLines, progress_display, quiet_library_bars


def _lines(buffer: io.StringIO) -> list[str]:
    return [line for line in buffer.getvalue().splitlines() if line]


def test_off_a_terminal_each_phase_is_a_plain_line_at_most_every_interval_and_when_it_ends():
    buffer, now = io.StringIO(), [0.0]
    show = ProgressLines(Console(file=buffer, width=40), PIPELINE_UNITS, every_s=30.0, now=lambda: now[0])
    for t, done in ((0, 0), (10, 100), (31, 310), (40, 400), (70, 1000), (80, 1000)):
        now[0] = float(t)
        show("score", done, 1000)
    assert _lines(buffer) == ["score: 310/1,000 rows (31%), 10 rows/s, about 0:01:09 left",
                              "score: 1,000/1,000 rows, 14 rows/s, 0:01:10 elapsed"]
    now[0] = 90.0
    show("dedup", 1, 1)  # the engine's corpus-wide phase counts detectors, and shows no rate
    assert _lines(buffer)[-1] == "dedup: 1/1 detectors, 0:00:00 elapsed"


def test_a_resumed_phase_counts_its_rate_from_where_it_started():
    buffer, now = io.StringIO(), [0.0]
    show = ProgressLines(Console(file=buffer, width=200), {}, every_s=10.0, now=lambda: now[0])
    show("score", 900, 1000)  # 900 rows were done by an earlier run
    now[0] = 20.0
    show("score", 940, 1000)
    assert _lines(buffer) == ["score: 940/1,000 rows (94%), 2 rows/s, about 0:00:30 left"]


def test_a_unit_other_than_rows_shows_time_left_but_no_rate():
    buffer, now = io.StringIO(), [0.0]
    show = ProgressLines(Console(file=buffer, width=200), {}, default_unit="", every_s=10.0, now=lambda: now[0])
    show("generations", 0, 20)
    now[0] = 15.0
    show("generations", 5, 20)
    assert _lines(buffer) == ["generations: 5/20 (25%), about 0:00:45 left"]


def test_progress_display_off_a_terminal_writes_lines_not_a_bar():
    buffer = io.StringIO()
    with progress_display(Console(file=buffer, force_terminal=False), PIPELINE_UNITS) as update:
        update("score", 0, 3)
        update("score", 3, 3)
    text = buffer.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.startswith("score: 3/3 rows") and text.count("\n") == 1


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_other_libraries_bars_are_turned_off_only_off_a_terminal_and_never_against_the_users_setting(monkeypatch):
    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(name, raising=False)
    quiet_library_bars(_Stream(tty=True))
    assert "TQDM_DISABLE" not in os.environ and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    monkeypatch.setenv("TQDM_DISABLE", "0")
    quiet_library_bars(_Stream(tty=False))
    assert os.environ["TQDM_DISABLE"] == "0" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
