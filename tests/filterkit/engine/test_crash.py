"""SIGKILL the CLI at random points, resume, and compare with an uninterrupted run byte for byte."""
import random
import signal
import subprocess
import sys
import time

import pytest

from filterkit.testing.corpora import resume_corpus as corpus
from filterkit.testing.corpora import tree_bytes

FILTERKIT = [sys.executable, "-c", "import cli; cli.main()"]


def _wait_for(condition, timeout: float = 120.0) -> None:
    """Poll ``condition`` every 5 ms until it holds (or ``timeout`` seconds pass)."""
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.005)


def filterkit_cli(*args, **kw):
    return subprocess.Popen([*FILTERKIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_killed_runs_resume_to_identical_bytes(tmp_path, fmt):
    data = corpus(tmp_path / "in", fmt)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rows_per_shard: 40\nbatch_size: 16\n" + (f"output_format: {fmt}\n" if fmt == "jsonl" else ""))
    ref = filterkit_cli("filter", str(data), "-o", str(tmp_path / "ref"), "--config", str(cfg))
    assert ref.wait() == 0, ref.stderr.read()
    start = time.perf_counter()
    subprocess.run([*FILTERKIT, "filter", str(data), "-o", str(tmp_path / "timing"), "--config", str(cfg)], check=True,
                   capture_output=True)
    duration = time.perf_counter() - start
    rng = random.Random(0)
    out = tmp_path / "killed"
    kills = 0
    for attempt in range(6):
        proc = filterkit_cli("filter", str(data), "-o", str(out), "--config", str(cfg),
                             *(["--resume"] if out.exists() else []))
        if attempt == 0:  # the first kill lands after the first finished task, whatever this machine's speed
            _wait_for(lambda p=proc: any((out / "_work" / "done").glob("*")) or p.poll() is not None)
        else:
            time.sleep(rng.uniform(0.1, duration))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = filterkit_cli("filter", str(data), "-o", str(out), "--config", str(cfg),
                          *(["--resume"] if out.exists() else []))
    assert final.wait() == 0, final.stderr.read()
    assert kills >= 1
    assert tree_bytes(out) == tree_bytes(tmp_path / "ref")
    assert not list(out.rglob(".*.tmp"))
