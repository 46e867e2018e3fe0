"""One entry point per benchmark family, ``python -m benchmarks.<family> [SUBCOMMAND]``: every one parses --help."""
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.entry import dispatch

ROOT = Path(__file__).resolve().parents[2]
WITH_SUBCOMMANDS = ("classifier", "collapse", "dedup", "detect", "layers", "lm", "transfer")
SINGLE = ("chains", "demo", "generation_limit", "scale")


@pytest.mark.parametrize("family", WITH_SUBCOMMANDS + SINGLE)
def test_python_dash_m_runs_the_family_entry_point(family):
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{family}", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m benchmarks.{family} ")


@pytest.mark.parametrize("family", WITH_SUBCOMMANDS)
def test_every_subcommand_parses_help_and_the_family_lists_them(family, capsys):
    subcommands = importlib.import_module(f"benchmarks.{family}.__main__").SUBCOMMANDS
    for name in subcommands:
        with pytest.raises(SystemExit) as exit_info:
            dispatch(family, "", subcommands, [name, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: python -m benchmarks.{family} {name} ")
    with pytest.raises(SystemExit) as exit_info:
        dispatch(family, "", subcommands, ["--help"])
    listing = capsys.readouterr().out
    assert exit_info.value.code == 0 and all(f"    {name} " in listing or f"    {name}\n" in listing
                                             for name in subcommands)
    for words in ([], ["no-such-benchmark"]):
        with pytest.raises(SystemExit) as exit_info:
            dispatch(family, "", subcommands, words)
        assert exit_info.value.code == 2


def test_benchmark_modules_have_no_entry_points_of_their_own():
    # Only a family's __main__.py runs as a script.
    for path in sorted((ROOT / "benchmarks").rglob("*.py")):
        if path.name == "__main__.py" or "results" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                raise AssertionError(f"{path.relative_to(ROOT)} runs as a script: make it a subcommand")
