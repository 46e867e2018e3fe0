"""A row detector that takes its time and records its worker's pid: something to kill mid-task; one that reports
its progress row by row."""
import os
import time
from collections.abc import Callable
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


@dataclass
class Counting(RowDetector):
    """A row detector that reports each row it scores, as a slow one (the LM) reports its groups of documents."""

    name = "counting"
    reports_progress = True
    scores = ("chars",)

    def score(self, batch: pa.Table, progress: Callable[[int], None] | None = None) -> pa.Table:
        chars = []
        for i, text in enumerate(batch[TEXT].to_pylist(), 1):
            chars.append(len(text))
            if progress is not None:
                progress(i)
        return pa.table({"counting.chars": np.array(chars, dtype=np.float64)})
