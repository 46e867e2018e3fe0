"""Where every file of a run lives: one place that names them, so tasks, reports and resume agree."""
from __future__ import annotations

from pathlib import Path

from filterkit.sources import Shard


class Layout:
    """Paths inside an output directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.work = self.root / "_work"

    @property
    def manifest(self) -> Path:
        """What the run is: config and inputs; a resume must match it."""
        return self.root / "_run.json"

    @property
    def plan(self) -> Path:
        """Shards and unreadable files, fixed on the first run."""
        return self.work / "plan.json"

    def kept(self, shard: Shard) -> Path:
        """Rows kept (every row, in tag and weight modes)."""
        return self.root / "kept" / f"{shard.name}.parquet"

    def removed(self, shard: Shard) -> Path:
        """Rows removed, with their scores and ``filter_reason``."""
        return self.root / "removed" / f"{shard.name}.parquet"

    def quarantine(self, shard: Shard) -> Path:
        """Rows that could not be processed, with the reason and error."""
        return self.root / "quarantine" / f"{shard.name}.parquet"

    def scored(self, shard: Shard) -> Path:
        """Valid rows with row-local scores, waiting for the corpus-wide step."""
        return self.work / "scored" / f"{shard.name}.parquet"

    def keys_dir(self, detector: str) -> Path:
        """Keys a corpus-wide detector emitted, one file per shard."""
        return self.work / "keys" / detector

    def keys(self, detector: str, shard: Shard) -> Path:
        """Keys of one shard for one corpus-wide detector."""
        return self.keys_dir(detector) / f"{shard.name}.parquet"

    def reduced(self, detector: str, shard_name: str) -> Path:
        """Per-row results of a corpus-wide detector for one shard."""
        return self.work / "reduced" / detector / f"{shard_name}.parquet"

    def stats(self, phase: str, shard: Shard) -> Path:
        """Counts and timings one task wrote."""
        return self.work / "stats" / f"{phase}-{shard.name}.json"

    def reduce_stats(self, detector: str) -> Path:
        """Rows and timing of one corpus-wide detector's reduce."""
        return self.work / "stats" / f"reduce-{detector}.json"

    def marker(self, name: str) -> Path:
        """Marker that says a task finished."""
        return self.work / "done" / name

    def is_done(self, name: str) -> bool:
        """Whether a task finished in an earlier (possibly killed) invocation."""
        return self.marker(name).exists()

    def mark_done(self, name: str) -> None:
        """Record that a task finished; called after its outputs are in place."""
        path = self.marker(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    @property
    def report_json(self) -> Path:
        """Machine-readable report."""
        return self.root / "report.json"

    @property
    def report_dir(self) -> Path:
        """Human report: Markdown and plots."""
        return self.root / "report"
