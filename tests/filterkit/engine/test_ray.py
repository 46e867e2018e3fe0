"""The Ray executor: same outputs as the local one, workers killed mid-task, unreachable clusters."""
import os
import signal
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.engine.executors import LocalExecutor
from filterkit.testing.corpora import messy_corpus, tree_bytes, write

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_executor():
    from filterkit.engine.ray_executor import RayExecutor

    executor = RayExecutor(num_cpus=2, workers=2)
    yield executor
    ray.shutdown()


def test_same_outputs_as_local(ray_executor, tmp_path):
    data = messy_corpus(tmp_path / "in")
    cfg = FilterConfig(rows_per_shard=4, detectors=(DetectorSpec("exact"), DetectorSpec("length")))
    local = filterkit.run([str(data)], tmp_path / "local", cfg, executor=LocalExecutor())
    distributed = filterkit.run([str(data)], tmp_path / "ray", cfg, executor=ray_executor)
    assert tree_bytes(tmp_path / "ray") == tree_bytes(tmp_path / "local")
    assert distributed.report["counts"] == local.report["counts"]


def test_same_duplicate_clusters_as_local(ray_executor, shared_data, tmp_path):
    # On Ray the MinHash step runs spread out (bands, verification, large-star / small-star rounds as tasks).
    from tests.support.near_duplicates import near_duplicate_corpus

    texts = near_duplicate_corpus(shared_data)
    for f, part in enumerate(np.array_split(np.arange(len(texts)), 4)):
        write(tmp_path / "in" / f"{f}.parquet", pa.table({"text": [texts[i] for i in part]}), 50)
    cfg = FilterConfig(rows_per_shard=50, detectors=(DetectorSpec("exact"), DetectorSpec("minhash")))
    local = filterkit.run([str(tmp_path / "in")], tmp_path / "local", cfg, executor=LocalExecutor())
    distributed = filterkit.run([str(tmp_path / "in")], tmp_path / "ray", cfg, executor=ray_executor, keep_work=True)
    assert (tmp_path / "ray" / "_work" / "components" / "minhash" / "components" / "labels").is_dir()
    assert local.report["counts"]["removed"] > 100
    assert distributed.report["counts"] == local.report["counts"]
    assert tree_bytes(tmp_path / "ray") == tree_bytes(tmp_path / "local")


def test_worker_killed_mid_task_is_retried(ray_executor, tmp_path):
    for f in range(4):
        write(tmp_path / "in" / f"{f}.parquet", pa.table({"text": [f"doc {f} {i}" for i in range(40)]}), 10)
    pids = tmp_path / "pids"
    pids.mkdir()
    cfg = FilterConfig(rows_per_shard=10, batch_size=5,
                       detectors=(DetectorSpec("tests.support.slow_detector:Slow",
                                               {"pid_dir": str(pids), "seconds": 0.3}),))
    killed = []

    def kill_one():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            found = [int(p.name) for p in pids.iterdir()]
            if found:
                os.kill(found[0], signal.SIGKILL)
                killed.append(found[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "ray", cfg, executor=ray_executor)
    killer.join()
    assert killed and result.ok
    reference = filterkit.run([str(tmp_path / "in")], tmp_path / "local", cfg.replace(
        detectors=(DetectorSpec("tests.support.slow_detector:Slow", {"seconds": 0.0}),)))
    assert result.report["counts"] == reference.report["counts"]
    assert tree_bytes(tmp_path / "ray") == tree_bytes(tmp_path / "local")


def test_unreachable_address_fails_before_work():
    from filterkit.engine.ray_executor import check_address

    with pytest.raises(ConnectionError, match="cannot be reached"):
        check_address("127.0.0.1:1")
