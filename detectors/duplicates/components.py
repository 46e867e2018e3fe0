"""Connected components too big for one process: large-star / small-star over partitioned Parquet files.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). Directed records ``(key, other)``
live in ``partitions`` directories by a hash of ``key``; every step, each partition's task reads what was sent
to it, applies one star operation per key node, and writes what it emits to the partitions of the receiving
nodes. Alternating large-star and small-star turns every component into a star around its smallest node in
O(log^2 n) rounds, so a node's label is the same as ``union_find`` gives. The caller's ``pmap`` runs the tasks
of a step (in this process, a process pool or a Ray actor pool); the caller sees only paths and counts.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from detectors.duplicates.shingles import fmix64
from filterkit.contract.detector import PMap
from filterkit.io.storage import write_parquet

MAX_ROUNDS = 200
_KEY, _OTHER = "key", "other"
Op = Literal["large", "small", "labels"]


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition a node's records go to (a mixed hash, so consecutive positions spread out)."""
    return (fmix64(nodes.astype(np.uint64)) % np.uint64(partitions)).astype(np.int64)


def send(key: np.ndarray, other: np.ndarray, step_dir: Path, sender: str, partitions: int) -> None:
    """Write records ``(key, other)`` into ``step_dir/to-PPPPP/from-SENDER.parquet`` by the partition of ``key``."""
    part = partition_of(key, partitions)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(partitions + 1))
    for p in range(partitions):
        rows = order[bounds[p]:bounds[p + 1]]
        if rows.size:
            write_parquet(pa.table({_KEY: key[rows], _OTHER: other[rows]}),
                          step_dir / f"to-{p:05d}" / f"from-{sender}.parquet")


def receive(step_dir: Path, partition: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique records sent to one partition, sorted by ``(key, other)``."""
    d = step_dir / f"to-{partition:05d}"
    files = sorted(str(p) for p in d.glob("*.parquet")) if d.is_dir() else []
    if not files:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    t = ds.dataset(files, format="parquet").to_table()
    pairs = np.unique(np.stack([t[_KEY].to_numpy(), t[_OTHER].to_numpy()], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _group_min(key: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For records sorted by key: each record's group start, and every key's ``min(key, min(others))``."""
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    group = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    low = np.minimum(np.minimum.reduceat(other, starts), key[starts])
    return starts, group, low


def edge_checksum(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Count and order-free hash of undirected edges, to see when a round changed nothing."""
    lo, hi = np.minimum(a, b).astype(np.uint64), np.maximum(a, b).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = fmix64(fmix64(lo) ^ hi)
    return int(len(a)), int(h.sum(dtype=np.uint64))


@dataclass(frozen=True)
class StarTask:
    """One partition's share of one step."""

    work: str
    round: int
    op: Op
    partition: int
    partitions: int


def step_dir(work: str | Path, round_: int, op: str) -> Path:
    """Where the records of one step are sent."""
    return Path(work) / f"r{round_:04d}-{op}"


def run_star_task(task: StarTask) -> dict[str, int]:
    """Apply one star operation to every key node of one partition and send what it emits on."""
    key, other = receive(step_dir(task.work, task.round, "large" if task.op == "labels" else task.op), task.partition)
    sender = f"{task.partition:05d}"
    if task.op == "small":
        # Records are (u, v) with v < u: u's smaller neighbours. Link each of them, and u, to the smallest one.
        if key.size:
            starts, group, low = _group_min(key, other)
            nodes = np.concatenate([other, key[starts]])
            centre = np.concatenate([low[group], low])
            linked = nodes != centre
            nodes, centre = nodes[linked], centre[linked]
            out = step_dir(task.work, task.round + 1, "large")
            send(np.concatenate([nodes, centre]), np.concatenate([centre, nodes]), out, sender, task.partitions)
        return {"records": int(key.size)}
    first = key < other  # every undirected edge arrives twice, once at each end; count it once
    count, checksum = edge_checksum(key[first], other[first])
    if not key.size:
        return {"edges": count, "checksum": checksum}
    starts, group, low = _group_min(key, other)
    if task.op == "labels":
        write_parquet(pa.table({_KEY: key[starts], _OTHER: low}), Path(task.work) / "labels" / f"{sender}.parquet")
        return {"edges": count, "checksum": checksum}
    # Large star: link every larger neighbour v of u to the smallest node m(u) u sees; send (max, min) to small.
    bigger = other > key
    v, m = other[bigger], low[group][bigger]
    linked = v != m
    send(np.maximum(v, m)[linked], np.minimum(v, m)[linked], step_dir(task.work, task.round, "small"), sender,
         task.partitions)
    return {"edges": count, "checksum": checksum}


def start(work: str | Path, a: np.ndarray, b: np.ndarray, sender: str, partitions: int) -> None:
    """Send undirected edges ``(a, b)`` to the first large-star step (both directions)."""
    keep = a != b
    a, b = a[keep].astype(np.int64), b[keep].astype(np.int64)
    send(np.concatenate([a, b]), np.concatenate([b, a]), step_dir(work, 0, "large"), sender, partitions)


def star_components(work: str | Path, partitions: int, pmap: PMap) -> Path:
    """Alternate the two stars until a round changes no edge; return the directory of ``(node, label)`` files.

    Edges must already have been sent with ``start``. Nodes in no edge are their own label (absent here).
    """
    previous: tuple[int, int] | None = None
    for r in range(MAX_ROUNDS):
        stats = pmap(run_star_task, [StarTask(str(work), r, "large", p, partitions) for p in range(partitions)])
        state = (sum(s["edges"] for s in stats), sum(s["checksum"] for s in stats) % 2**64)
        if state == previous:
            pmap(run_star_task, [StarTask(str(work), r, "labels", p, partitions) for p in range(partitions)])
            return Path(work) / "labels"
        if r > 0:
            shutil.rmtree(step_dir(work, r - 1, "large"), ignore_errors=True)
            shutil.rmtree(step_dir(work, r - 1, "small"), ignore_errors=True)
        previous = state
        pmap(run_star_task, [StarTask(str(work), r, "small", p, partitions) for p in range(partitions)])
    raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")


def read_labels(labels_dir: Path, n: int) -> np.ndarray:
    """Every node's component label (its smallest node), nodes in no edge labelling themselves."""
    label = np.arange(n, dtype=np.int64)
    files = sorted(str(p) for p in labels_dir.glob("*.parquet")) if labels_dir.is_dir() else []
    if files:
        t = ds.dataset(files, format="parquet").to_table()
        label[t[_KEY].to_numpy()] = t[_OTHER].to_numpy()
    return label
