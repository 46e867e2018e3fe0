"""``python -m benchmarks.collapse``: one entry point whose subcommands are the benchmark's command lines."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.collapse.__main__ import SUBCOMMANDS
from benchmarks.entry import dispatch

ROOT = Path(__file__).resolve().parents[3]


def test_every_subcommand_names_a_module_with_a_main():
    assert set(SUBCOMMANDS) == {"run", "compare", "drift", "benefit", "fp-error", "baseline", "reach",
                                "pretraining", "tune", "folds"}
    for sub in SUBCOMMANDS.values():
        assert callable(importlib.import_module(sub.module).main)


def test_the_family_help_lists_the_subcommands():
    done = subprocess.run([sys.executable, "-m", "benchmarks.collapse", "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert all(name in done.stdout for name in SUBCOMMANDS)


def test_dispatch_hands_the_rest_of_the_command_line_to_the_subcommand(tmp_path, capsys):
    out = tmp_path / "run"
    dispatch("collapse", "", SUBCOMMANDS, ["run", "--learner", "gaussian", "--schedule", "replace", "--arms", "none",
                                           "--generations", "1", "--seeds", "1", "--set", "plots=false", "-o",
                                           str(out)])
    assert json.loads((out / "run.json").read_text())["command"].startswith("python -m benchmarks.collapse run ")
    with pytest.raises(SystemExit):
        dispatch("collapse", "", SUBCOMMANDS, ["nosuch"])
