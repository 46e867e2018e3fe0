"""Per-generation checkpoints of a collapse run, so that a killed or extended run continues where it stopped.

Layout under ``OUT/_state``: ``config.json`` (what must match to resume), then per seed ``start/`` (generation 0)
and per (seed, arm) lineage one directory per finished generation ``gNNN/`` holding its record, the model's
samples, the kept pool, the training rows and (where the learner can save itself) the model. A generation
directory appears whole or not at all (written under a temporary name, then renamed). Only the latest model of
each lineage is kept: older ones are never needed again. Nothing here is unpickled: arrays go through Parquet,
models through the learner's own ``save_state`` (safetensors or JSON).
"""
from __future__ import annotations

import json
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.collapse.data.rows import Rows
from benchmarks.collapse.experiment.records import Record, StartRecord

# Fields a continued run may change: more generations or seeds extend a run, the rest only shape the outputs.
MAY_CHANGE = ("generations", "seeds", "bootstrap", "plots", "keep_work", "checkpoint")


class ResumeError(ValueError):
    """A state directory that does not belong to this run."""


@dataclass(frozen=True)
class Saved:
    """What a finished generation left for the next one."""

    records: list[Record]
    """An arm's lineage: the records of its generations 1..t (empty for a seed's generation 0)."""
    start: StartRecord | None
    """A seed's generation 0: what its model measured (None for an arm's lineage)."""
    samples: np.ndarray
    pool: Rows
    train: np.ndarray | None
    model_dir: Path | None


class Checkpoints:
    """Reads and writes the state of one collapse run."""

    def __init__(self, root: Path, config: dict[str, Any], resume: bool,
                 defaults: dict[str, Any] | None = None) -> None:
        self.root = root
        # Through JSON and back, so that tuples compare equal to the lists a saved config holds.
        fixed = json.loads(json.dumps({k: v for k, v in config.items() if k not in MAY_CHANGE}, default=str))
        marker = root / "config.json"
        if marker.exists():
            if not resume:
                raise ResumeError(f"{root} holds the state of an earlier run: pass --resume to continue it "
                                  "(or remove that directory to start over)")
            saved = json.loads(marker.read_text(encoding="utf-8"))
            # A setting added since the run started, left at its default (``defaults``), changes nothing.
            added = {k: v for k, v in (defaults or {}).items() if k not in MAY_CHANGE}
            before = json.loads(json.dumps(added, default=str)) | saved
            # Arms may be added, and those that never ran dropped; an arm with a lineage on disk must stay. An arm's
            # random streams are keyed by its label, never by its place in the list, so adding one changes no other.
            ran = {a for a in before.get("arms") or () if self._ran(a)}
            changed = sorted(k for k in set(before) | set(fixed) if before.get(k) != fixed.get(k)
                             and not (k == "arms" and ran <= set(fixed.get(k) or ())))
            if changed:
                raise ResumeError(f"{root}: cannot resume, the config differs in {changed} (only {list(MAY_CHANGE)} "
                                  "may change, and arms may be added, between a run and its continuation)")
            if fixed != before:
                marker.write_text(json.dumps(fixed, indent=1) + "\n", encoding="utf-8")
        else:
            root.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps(fixed, indent=1) + "\n", encoding="utf-8")

    def _ran(self, arm: str) -> bool:
        """Whether any seed holds a lineage of ``arm``."""
        name = self.lineage(0, arm).name
        return any((seed / name).exists() for seed in self.root.glob("seed[0-9]*"))

    def lineage(self, seed: int, arm: str | None) -> Path:
        """The directory of one lineage (``arm`` None: the seed's shared generation 0)."""
        return self.root / f"seed{seed}" / lineage_name(arm)

    def latest(self, seed: int, arm: str | None) -> int | None:
        """The last finished generation of a lineage, or None."""
        base = self.lineage(seed, arm)
        done = sorted(int(p.name[1:]) for p in base.glob("g[0-9][0-9][0-9]") if p.is_dir()) if base.exists() else []
        return done[-1] if done else None

    def save(self, seed: int, arm: str | None, generation: int, record: Record | StartRecord, samples: np.ndarray,
             pool: Rows, train: np.ndarray | None, learner: Any) -> None:
        """Write one finished generation atomically, then drop the lineage's older model."""
        base = self.lineage(seed, arm)
        final, tmp = base / f"g{generation:03d}", base / f".g{generation:03d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "record.json").write_text(json.dumps(_plain(record.to_dict()), allow_nan=True) + "\n", encoding="utf-8")
        _write_items(samples, tmp / "samples.parquet")
        _write_rows(pool, tmp / "pool.parquet")
        if train is not None:
            _write_items(train, tmp / "train.parquet")
        if hasattr(learner, "save_state"):
            learner.save_state(tmp / "model")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for older in base.glob("g[0-9][0-9][0-9]"):
            if older != final and (older / "model").exists():
                shutil.rmtree(older / "model")

    def load(self, seed: int, arm: str | None, generation: int) -> Saved:
        """Records of generations 0..``generation`` of a lineage and the state after ``generation``."""
        base = self.lineage(seed, arm)
        saved = [json.loads((base / f"g{g:03d}" / "record.json").read_text(encoding="utf-8"))
                 for g in range(generation + 1) if (base / f"g{g:03d}").exists()]
        records = [] if arm is None else [Record.from_dict(r) for r in saved]
        start = StartRecord.from_dict(saved[0]) if arm is None else None
        last = base / f"g{generation:03d}"
        train = read_items(last / "train.parquet") if (last / "train.parquet").exists() else None
        return Saved(records, start, read_items(last / "samples.parquet"), read_rows(last / "pool.parquet"), train,
                     last / "model" if (last / "model").exists() else None)

    def samples(self, seed: int, arm: str, upto: int) -> list[np.ndarray]:
        """The samples of generations 1..``upto`` of a lineage, in order (the replay index's history)."""
        base = self.lineage(seed, arm)
        return [read_items(base / f"g{g:03d}" / "samples.parquet") for g in range(1, upto + 1)]


def lineage_name(arm: str | None) -> str:
    """The directory name of an arm's lineage under a seed (None: the seed's shared generation 0)."""
    return "start" if arm is None else f"arm-{zlib.crc32(arm.encode()):08x}"


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}


def _column(items: np.ndarray) -> pa.Array:
    """Documents as strings, numeric items as float64."""
    if items.dtype == object:
        return pa.array([str(x) for x in items], pa.string())
    return pa.array(np.asarray(items, np.float64))


def _values(column: pa.ChunkedArray) -> np.ndarray:
    """The inverse of ``_column``."""
    if pa.types.is_string(column.type):
        return np.array(column.to_pylist(), dtype=object)
    return column.to_numpy()


def _write_items(items: np.ndarray, path: Path) -> None:
    pq.write_table(pa.table({"items": _column(items)}), path)


def read_items(path: Path) -> np.ndarray:
    """A saved array of documents or numbers."""
    return _values(pq.read_table(path)["items"])


def _write_rows(rows: Rows, path: Path) -> None:
    pq.write_table(pa.table({"items": _column(rows.items), "synthetic": pa.array(rows.synthetic, pa.bool_()),
                             "new": pa.array(rows.new, pa.bool_())}), path)


def read_rows(path: Path) -> Rows:
    """A saved pool: its items and which are synthetic and new."""
    t = pq.read_table(path)
    return Rows(_values(t["items"]), t["synthetic"].to_numpy(zero_copy_only=False),
                t["new"].to_numpy(zero_copy_only=False))
