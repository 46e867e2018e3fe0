"""same-bytes runs each case as its tree runs it: the demo through cli.py before it moved, benchmarks.demo after."""
from benchmarks.layers.same_bytes import DEMO, FILTERKIT, RUNS, command


def test_the_demo_runs_as_each_tree_has_it(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    (before / "benchmarks").mkdir(parents=True)
    (before / "benchmarks" / "demo.py").write_text("")
    (after / "benchmarks" / "demo").mkdir(parents=True)
    (after / "benchmarks" / "demo" / "__main__.py").write_text("")
    assert command(before, "demo") == [*FILTERKIT, "demo"]
    assert command(after, "demo") == DEMO == ["-m", "benchmarks.demo"]
    for name in ("crash", "messy"):  # filterkit filter, the same at every revision
        assert command(before, name) == command(after, name) == RUNS[name]
        assert RUNS[name][: len(FILTERKIT) + 1] == [*FILTERKIT, "filter"]
