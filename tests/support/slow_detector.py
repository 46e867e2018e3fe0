"""A row detector that takes its time and records its worker's pid: something to kill mid-task."""
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from filterkit.contract.detector import TEXT, RowDetector


@dataclass
class Slow(RowDetector):
    name = "slow"
    scores = ("chars",)
    pid_dir: str = ""
    seconds: float = 0.05

    def score(self, batch: pa.Table) -> pa.Table:
        if self.pid_dir:
            (Path(self.pid_dir) / str(os.getpid())).touch()
        time.sleep(self.seconds)
        return pa.table({"slow.chars": np.array([len(t) for t in batch[TEXT].to_pylist()], dtype=np.float64)})
