"""A corpus-wide detector that fails while a flag file exists: a stand-in for a worker that keeps crashing."""
from dataclasses import dataclass

import pyarrow as pa

from detectors.exact import ExactDuplicates


@dataclass
class Flaky(ExactDuplicates):
    name = "exact"
    flag: str = ""

    def map(self, batch: pa.Table) -> pa.Table:
        from pathlib import Path

        if Path(self.flag).exists() and "boom" in batch["text"].to_pylist():
            raise RuntimeError("worker keeps failing on this shard")
        return super().map(batch)
