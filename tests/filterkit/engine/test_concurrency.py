"""One run at a time on an output, a missing task input is an error (never an empty shard), and a killed driver's
pool workers exit with it."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

import filterkit
from filterkit import FilterConfig
from filterkit.engine.pipeline import OutputInUseError
from filterkit.engine.tasks import ShardTask, decide_shard
from filterkit.io.layout import Layout
from filterkit.io.sources import Shard
from filterkit.testing.corpora import read_dir, resume_corpus, tree_bytes, write

FILTERKIT = [sys.executable, "-c", "import cli; cli.main()"]
SMALL = FilterConfig(rows_per_shard=40, batch_size=16)


def _rows_out(out: Path) -> list[tuple[str, int]]:
    tables = [read_dir(out / part) for part in ("kept", "removed", "quarantine")]
    return sorted((r["source_file"], r["source_row"]) for t in tables if t.num_rows
                  for r in t.select(["source_file", "source_row"]).to_pylist())


@pytest.mark.parametrize("marker", ["decide-part-000003", "reduce-exact", "map-part-000003"])
def test_a_lost_marker_resumes_to_every_row(tmp_path, marker):
    """A finished run deletes its working files; a decide whose marker is lost needs them again: a resume scores
    again what it needs instead of deciding an empty shard (which lost 5,000 of 50,000 rows and part-000003)."""
    data = resume_corpus(tmp_path / "in")
    out = tmp_path / "o"
    first = filterkit.run([str(data)], out, SMALL)
    before = tree_bytes(out)
    assert first.ok and (out / "kept" / "part-000003.parquet").exists()
    (out / "_work" / "done" / marker).unlink()
    again = filterkit.run([str(data)], out, SMALL, resume=True)
    assert again.ok, again.report
    assert again.report["counts"]["kept"] + again.report["counts"]["removed"] == 2400
    assert tree_bytes(out) == before
    assert len(_rows_out(out)) == 2400


def test_a_decide_whose_scored_rows_are_missing_fails_naming_the_file(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": ["x", "y", "x"]}))
    out = tmp_path / "o"
    filterkit.run([str(tmp_path / "in")], out, keep_work=True)
    lay = Layout(out)
    plan = json.loads(lay.plan.read_text())
    shard = Shard(**{**plan["shards"][0], "row_groups": tuple(plan["shards"][0]["row_groups"])})
    lay.scored(shard).unlink()
    task = ShardTask(shard, lay.root, FilterConfig(), filterkit.engine.pipeline.filter_stage(FilterConfig()),
                     ("exact",), str(lay.work))
    with pytest.raises(FileNotFoundError, match=str(lay.scored(shard))):
        decide_shard(task)
    assert (out / "kept" / "part-000000.parquet").exists()  # nothing written over the shard's outputs


def test_a_second_run_on_a_locked_output_is_refused_in_one_line(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": ["x", "y"]}))
    out = tmp_path / "o"
    with Layout(out).locked():
        with pytest.raises(OutputInUseError, match="in use"):
            filterkit.run([str(tmp_path / "in")], out)
        cli = subprocess.run([*FILTERKIT, "filter", str(tmp_path / "in"), "-o", str(out), "--resume"],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "1000"})
    assert cli.returncode == 2
    assert [line for line in cli.stderr.splitlines() if "error" in line] == [
        f"error: {out} is in use: another filterkit run holds {out / '_work' / '.lock'}; let it finish, or write to "
        "another output"]
    assert filterkit.run([str(tmp_path / "in")], out).ok  # the lock went with its holder


def test_a_refused_run_leaves_nothing_behind(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": ["x"]}))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(filterkit.engine.pipeline.OutputExistsError, match="holds no filterkit run"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").rglob("*")) == ["notes.txt"]


@pytest.mark.slow
def test_two_runs_on_one_output_end_with_one_refused_or_both_correct(tmp_path):
    """A --resume started while another run writes the same output deleted finished outputs and the other run's
    temporaries; now the second run is refused at once, whenever it starts, and no row is ever lost."""
    data = resume_corpus(tmp_path / "in")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rows_per_shard: 40\nbatch_size: 16\n")
    args = ["filter", str(data), "--config", str(cfg)]
    start = time.perf_counter()
    subprocess.run([*FILTERKIT, *args, "-o", str(tmp_path / "ref")], check=True, capture_output=True, timeout=300)
    duration = time.perf_counter() - start
    ref = tree_bytes(tmp_path / "ref")
    outcomes = {}
    for k, fraction in enumerate((0.0, 0.15, 0.35, 0.55, 0.75, 0.95)):
        # Both with --resume (on an empty output it starts afresh), so either may be first to the output.
        out = tmp_path / f"o{k}"
        first = subprocess.Popen([*FILTERKIT, *args, "-o", str(out), "--resume"], stderr=subprocess.PIPE, text=True)
        time.sleep(fraction * duration)
        second = subprocess.Popen([*FILTERKIT, *args, "-o", str(out), "--resume"], stderr=subprocess.PIPE, text=True)
        ends = [(p.wait(timeout=300), " ".join(p.stderr.read().split())) for p in (first, second)]
        report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
        outcomes[fraction] = {
            "exits": [code for code, _ in ends],
            "refusals": [err[-300:] for code, err in ends if code],
            "same bytes": tree_bytes(out) == ref,
            "rows": report.get("counts", {}).get("kept", 0) + report.get("counts", {}).get("removed", 0),
            "temporaries": len(list(out.rglob(".*.tmp"))),
        }
    for fraction, o in outcomes.items():
        assert o["same bytes"] and o["rows"] == 2400 and not o["temporaries"], (fraction, o)
        assert all(code in (0, 2) for code in o["exits"]) and len(o["refusals"]) <= 1, (fraction, o)
        assert all("is in use" in err for err in o["refusals"]), (fraction, o)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited; only its parent has not reaped it


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_pool_workers_exit_when_the_driver_is_killed(tmp_path):
    """After SIGKILL with --workers 2, two pool workers (~330 MB each) and the resource tracker lived on for minutes."""
    write(tmp_path / "in" / "a.parquet", pa.table({"text": [f"text {i}" for i in range(64)]}), 4)
    pids = tmp_path / "pids"
    pids.mkdir()
    spec = {"name": "tests.support.slow_detector:Slow", "params": {"pid_dir": str(pids), "seconds": 1.0}}
    (tmp_path / "c.yaml").write_text(json.dumps({"rows_per_shard": 4, "batch_size": 4, "detectors": [spec]}))
    driver = subprocess.Popen([*FILTERKIT, "filter", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--config",
                               str(tmp_path / "c.yaml"), "--workers", "2"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.name) for p in pids.iterdir()]
        children = _children(driver.pid)
        assert len(workers) == 2 and set(workers) <= set(children), (workers, children)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in children if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"{len(left)} of the driver's {len(children)} child processes outlived it by 10 s"

