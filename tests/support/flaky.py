"""Detectors that fail on purpose: a worker that keeps crashing on a shard, a row a detector cannot score."""
from dataclasses import dataclass

import pyarrow as pa

from detectors.duplicates.exact import ExactDuplicates
from detectors.surface.length import Length


@dataclass
class Flaky(ExactDuplicates):
    name = "exact"
    flag: str = ""

    def map(self, batch: pa.Table) -> pa.Table:
        from pathlib import Path

        if Path(self.flag).exists() and "boom" in batch["text"].to_pylist():
            raise RuntimeError("worker keeps failing on this shard")
        return super().map(batch)


@dataclass
class Picky(Length):
    """Fails on rows that contain ``poison``, or on every row when ``always``."""

    name = "length"
    always: bool = False

    def score(self, batch: pa.Table) -> pa.Table:
        if self.always or any("poison" in t for t in batch["text"].to_pylist()):
            raise ValueError("cannot score this")
        return super().score(batch)
