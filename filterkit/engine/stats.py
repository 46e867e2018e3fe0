"""Typed counts each task writes, and the one place they are merged into a run's totals."""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from filterkit.io.storage import read_json, write_json

S = TypeVar("S", bound="_Stats")


class _Stats:
    """Written as sorted JSON through an atomic rename, read back into the same type."""

    def write(self, path: Path) -> None:
        """Write these stats to ``path``."""
        write_json(dataclasses.asdict(self), path)  # type: ignore[call-overload]

    @classmethod
    def read(cls: type[S], path: Path) -> S:
        """Stats an earlier task (maybe an earlier invocation) wrote."""
        return cls(**read_json(path))


@dataclass
class MapStats(_Stats):
    """What scoring one shard found: valid rows, quarantined rows by reason, ranges that could not be read."""

    shard: str
    source: str
    rows_in: int
    valid: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    unreadable_rows: int = 0
    map_seconds: float = 0.0


@dataclass
class ReduceStats(_Stats):
    """One corpus-wide detector's reduce: rows it labelled, time, and whether it spread over tasks."""

    detector: str
    rows: int
    seconds: float
    spread: bool = False


@dataclass
class DecideStats(_Stats):
    """What the filter stage did with one shard's valid rows."""

    shard: str
    kept: int = 0
    removed: int = 0
    flagged: int = 0
    filter_reasons: dict[str, int] = field(default_factory=dict)
    decide_seconds: float = 0.0


def count_labels(values: Iterable[str | None], sep: str | None = None) -> dict[str, int]:
    """How often each label occurs (``sep`` splits a value holding several), sorted by label; None is skipped."""
    counts: Counter[str] = Counter()
    for value in values:
        if value is not None:
            counts.update(value.split(sep) if sep else [value])
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class Totals:
    """A run's counts, merged from every finished task's stats and the files that failed whole."""

    counts: dict[str, int]
    quarantine_reasons: dict[str, int]
    filter_reasons: dict[str, int]
    unreadable: list[dict[str, Any]]
    task_seconds: float

    @classmethod
    def merge(cls, planned_rows: dict[str, int], maps: dict[str, MapStats], decides: dict[str, DecideStats],
              file_rows: int) -> Totals:
        """Totals over shards (``planned_rows``: shard name to rows); a shard not yet decided counts as failed."""
        failed = sum(rows if name not in maps else maps[name].valid
                     for name, rows in planned_rows.items() if name not in decides)
        m, d = list(maps.values()), list(decides.values())
        counts = {
            "rows_in": sum(planned_rows.values()) + file_rows,
            "kept": sum(s.kept for s in d),
            "removed": sum(s.removed for s in d),
            "quarantined": sum(s.quarantined for s in m),
            "unreadable_rows": sum(s.unreadable_rows for s in m) + file_rows,
            "failed_rows": failed,
            "flagged": sum(s.flagged for s in d),
        }
        return cls(
            counts=counts,
            quarantine_reasons=_add(s.quarantine_reasons for s in m),
            filter_reasons=_add(s.filter_reasons for s in d),
            unreadable=[u for s in m for u in s.unreadable],
            task_seconds=sum(s.map_seconds for s in m) + sum(s.decide_seconds for s in d),
        )

    @property
    def accounted(self) -> int:
        """Rows that ended somewhere: kept, removed, quarantined, unreadable or in a failed task."""
        return sum(self.counts[k] for k in ("kept", "removed", "quarantined", "unreadable_rows", "failed_rows"))


def _add(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(sorted(total.items()))
