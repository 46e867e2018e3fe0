"""MinHash near-duplicates across the whole corpus: LSH band keys per row, then an out-of-core cluster step.

``map`` signs each batch at once (see ``detectors.duplicates.shingles``) and emits one uint64 key per LSH band, the
signature (to verify candidate edges) and what the keep policy reads. ``reduce`` groups one band column at
a time, turns every bucket into edges from its first row to the others, keeps the edges whose estimated
Jaccard reaches the threshold, and joins rows with union-find. It holds per-row integers and the
signatures of rows that have a candidate, never the texts nor every signature at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from detectors.duplicates.components import read_labels, receive, send, star_components, start
from detectors.duplicates.shingles import MinHashParams, Unit, band_keys
from filterkit.contract.detector import REMOVED_ANYWAY, ROW, SHARD, TEXT, Column, CorpusDetector, ReduceContext
from filterkit.stage.rules import Rule

Keep = Literal["first", "longest", "most_human"]
_SIG = "sig"
_LENGTH = "length"
_MACHINE = "machine"
_EDGE_CHUNK = 262_144


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
               ) -> tuple[int, int]:
    """Bands and rows per band for a Jaccard threshold: datasketch's ``MinHashLSH`` optimiser, vectorised.

    Minimises ``fp_weight * P(candidate | J < t) + fn_weight * P(miss | J >= t)`` (each integrated over J)
    over every ``bands * rows <= num_perm``, as ``datasketch.lsh._optimal_param`` does with scipy's quad;
    Simpson's rule on a fine grid gives the same choice without importing datasketch in every worker.
    """
    b = np.concatenate([np.full(num_perm // k, k) for k in range(1, num_perm + 1)]).astype(np.float64)
    r = np.concatenate([np.arange(1, num_perm // k + 1) for k in range(1, num_perm + 1)]).astype(np.float64)
    below, above = np.linspace(0.0, threshold, 2001), np.linspace(threshold, 1.0, 2001)
    fp = _simpson(_candidate_probability(below, b, r), below)
    fn = _simpson(1.0 - _candidate_probability(above, b, r), above)
    best = int(np.argmin(fp * false_positive_weight + fn * false_negative_weight))
    return int(b[best]), int(r[best])


def as_lsh_weights(weights: Sequence[float]) -> tuple[float, float]:
    """``(false_positive, false_negative)`` weights as floats: the hashable key ``lsh_params`` is cached by (a
    config gives a list), derived where needed so that the parameter itself stays as given."""
    return float(weights[0]), float(weights[1])


def check_lsh_weights(weights: Sequence[float]) -> None:
    """Refuse LSH weights that are not two non-negative numbers, not both zero."""
    try:
        fp, fn = as_lsh_weights(weights)
        ok = len(weights) == 2 and fp >= 0 and fn >= 0 and fp + fn > 0
    except (TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise ValueError(f"lsh_weights must be two non-negative numbers (false positive, false negative), got "
                         f"{weights!r}")


def _candidate_probability(jaccard: np.ndarray, bands: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """P(two documents share a bucket) for every (bands, rows) and Jaccard: 1 - (1 - J**r)**b."""
    return 1.0 - (1.0 - jaccard[None, :] ** rows[:, None]) ** bands[:, None]


def _simpson(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    h = (grid[-1] - grid[0]) / (len(grid) - 1)
    return h / 3 * (values[:, 0] + values[:, -1] + 4 * values[:, 1:-1:2].sum(axis=1)
                    + 2 * values[:, 2:-1:2].sum(axis=1))


@dataclass
class MinHashDuplicates(CorpusDetector):
    """Near-duplicates by MinHash LSH over word (or character) n-grams; one row per cluster survives.

    ``threshold`` is the estimated Jaccard an edge needs to join two rows (when ``verify``); the bands and
    rows are chosen for it with ``lsh_weights`` (false-positive, false-negative), weighted towards recall
    because verification removes the false candidates. ``keep`` picks the survivor of a cluster: the
    first in corpus order, the longest text, or the lowest ``machine_score`` (a column another detector
    writes; rows without it count as most machine-like, and a cluster without any falls back to first), among
    the members no other rule removes (all of them when other rules remove every member).
    Documents with no shingle (empty after normalisation) are never near-duplicates of anything.
    """

    name = "minhash"
    scores = (Column("cluster_id", pa.int64(), doc="position, in corpus order, of the cluster's first row"),
              Column("cluster_size", doc="rows in the cluster, this one included"),
              Column("is_duplicate", pa.bool_(), doc="in a cluster and not its survivor"))
    threshold: float = 0.6
    num_perm: int = 128
    ngram: int = 5
    unit: Unit = "word"
    seed: int = 1
    lowercase: bool = True
    strip_punctuation: bool = True
    bands: int | None = None
    rows: int | None = None
    lsh_weights: tuple[float, float] = (0.1, 0.9)
    verify: bool = True
    keep: Keep = "first"
    machine_score: str = "classifier.p_machine"

    def __post_init__(self) -> None:
        self.params  # noqa: B018 - validates ngram, unit and num_perm now rather than in a worker
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.keep not in ("first", "longest", "most_human"):
            raise ValueError(f"keep must be first, longest or most_human, got {self.keep!r}")
        check_lsh_weights(self.lsh_weights)
        b, r = self.band_shape
        if b * r > self.num_perm or b < 1 or r < 1:
            raise ValueError(f"{b} bands of {r} rows do not fit in {self.num_perm} permutations")

    @property
    def defends_itself(self) -> bool:  # type: ignore[override]
        """With case folded, the normaliser's own defence (shingles._defend) makes the shared one redundant."""
        return self.lowercase

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]
        """The machine-score column when the keep policy reads it."""
        return (self.machine_score,) if self.keep == "most_human" else ()

    @property
    def params(self) -> MinHashParams:
        """The signing parameters, in the form the replay index records them (the fields stay flat for configs)."""
        return MinHashParams(num_perm=self.num_perm, ngram=self.ngram, unit=self.unit, seed=self.seed,
                             lowercase=self.lowercase, strip_punctuation=self.strip_punctuation)

    @property
    def band_shape(self) -> tuple[int, int]:
        """``(bands, rows)``: as given (one of them alone fills ``num_perm``), or optimal for the threshold."""
        if self.bands is not None and self.rows is not None:
            return int(self.bands), int(self.rows)
        if self.bands is not None:
            return int(self.bands), self.num_perm // int(self.bands)
        if self.rows is not None:
            return self.num_perm // int(self.rows), int(self.rows)
        return lsh_params(self.threshold, self.num_perm, *as_lsh_weights(self.lsh_weights))

    def default_rules(self) -> list[Rule]:
        """Remove every member of a cluster but its survivor."""
        return [Rule(f"{self.name}.is_duplicate", ">=", 1.0, reason="near_duplicate")]

    def map(self, batch: pa.Table) -> pa.Table:
        """Band keys (null for a document without shingles), the signature and the keep policy's input."""
        signatures, counts = self.params.hasher().sign(batch[TEXT])
        empty = counts == 0
        b, r = self.band_shape
        keys = band_keys(signatures, b, r)
        cols: dict[str, pa.Array] = {
            f"band{j:03d}": pa.array(keys[:, j], pa.uint64(), mask=empty) for j in range(b)
        }
        if self.verify:
            cols[_SIG] = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4 * self.num_perm), len(signatures), [None, pa.py_buffer(signatures.tobytes())])
        if self.keep == "longest":
            cols[_LENGTH] = pc.utf8_length(pc.fill_null(batch[TEXT], "")).cast(pa.int64())
        if self.keep == "most_human":
            if self.machine_score in batch.column_names:
                cols[_MACHINE] = pc.cast(batch[self.machine_score], pa.float64())
            else:
                cols[_MACHINE] = pa.nulls(batch.num_rows, pa.float64())
        return pa.table(cols)

    def reduce(self, keys: ds.Dataset) -> pa.Table:
        """Cluster every row of the corpus; rows come back sorted by (``_shard``, ``_row``)."""
        reader = _ColumnReader(keys)
        n = reader.count
        b, _ = self.band_shape
        edges = _candidate_edges(reader, [f"band{j:03d}" for j in range(b)], n)
        if self.verify and len(edges):
            edges = edges[_estimated_jaccard(reader, edges, self.num_perm) >= self.threshold]
        return self._clusters(reader, union_find(n, edges))

    parallel_reduce = True

    def reduce_parallel(self, context: ReduceContext) -> pa.Table:
        """The clusters ``reduce`` finds, with bands, verification and components spread over ``pmap`` tasks.

        One task per band finds its buckets' candidate edges and sends them by node to the context's
        partitions; one task per partition verifies and deduplicates them; large-star / small-star rounds
        (``detectors.duplicates.components``) label the components. Only per-row labels come back to this process.
        """
        b, _ = self.band_shape
        spec = _ParallelSpec(context.keys, str(context.scratch), context.partitions,
                             self.threshold if self.verify else None, self.num_perm)
        context.pmap(_band_candidates, [(spec, f"band{j:03d}") for j in range(b)])
        context.pmap(_verify_partition, [(spec, p) for p in range(context.partitions)])
        labels = star_components(context.scratch / "components", context.partitions, context.pmap)
        reader = _ColumnReader(ds.dataset(list(context.keys), format="parquet"))
        return self._clusters(reader, read_labels(labels, reader.count))

    def _clusters(self, reader: _ColumnReader, label: np.ndarray) -> pa.Table:
        """Output columns from every row's component label (its first row's position)."""
        n = len(label)
        size = np.bincount(label, minlength=n)[label]
        survivor = self._survivors(reader, label)
        out = pa.table({
            SHARD: reader.column(SHARD),
            ROW: reader.column(ROW),
            f"{self.name}.cluster_id": label.astype(np.int64),
            f"{self.name}.cluster_size": size.astype(np.float64),
            f"{self.name}.is_duplicate": survivor[label] != np.arange(n),
        })
        return out.sort_by([(SHARD, "ascending"), (ROW, "ascending")])

    def _survivors(self, reader: _ColumnReader, label: np.ndarray) -> np.ndarray:
        """For every cluster label (the position of its first row), the position of the row that stays: by the keep
        policy among the members that no other rule removes (``REMOVED_ANYWAY``), or among all if it removes all."""
        n = len(label)
        position = np.arange(n)
        anyway = reader.has(REMOVED_ANYWAY)
        if self.keep == "first" and not anyway:
            return position
        if self.keep == "first":
            preference = np.zeros(n)
        elif self.keep == "longest":
            preference = -reader.column(_LENGTH).astype(np.float64)
        else:
            preference = reader.column(_MACHINE, fill=np.nan).astype(np.float64)
            preference = np.where(np.isnan(preference), np.inf, preference)
        removed = reader.column(REMOVED_ANYWAY, fill=False) if anyway else np.zeros(n, bool)
        order = np.lexsort((position, preference, removed, label))
        first_of_label = np.ones(n, dtype=bool)
        first_of_label[1:] = label[order][1:] != label[order][:-1]
        survivor = position.copy()
        survivor[label[order][first_of_label]] = order[first_of_label]
        return survivor


class _ColumnReader:
    """Reads one column of the keys dataset at a time, fragment by fragment, always in the same order."""

    def __init__(self, keys: ds.Dataset) -> None:
        self.fragments = list(keys.get_fragments())

    @property
    def count(self) -> int:
        """Rows in every fragment."""
        return sum(f.count_rows() for f in self.fragments)

    def has(self, name: str) -> bool:
        """Whether the keys have a column ``name`` (every fragment or none: one run wrote them all)."""
        return bool(self.fragments) and name in self.fragments[0].physical_schema.names

    def column(self, name: str, fill: float | int | None = None) -> np.ndarray:
        """The whole column as numpy; nulls become ``fill`` (which must then be given)."""
        parts = [self._numpy(f.to_table(columns=[name])[name], fill) for f in self.fragments]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def valid_column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, values)`` of the non-null entries of a column."""
        positions, values, start = [], [], 0
        for f in self.fragments:
            col = f.to_table(columns=[name])[name].combine_chunks()
            valid = np.flatnonzero(~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool))
            positions.append(start + valid)
            values.append(col.fill_null(0).to_numpy(zero_copy_only=False)[valid])
            start += len(col)
        if not positions:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        return np.concatenate(positions), np.concatenate(values)

    def take_rows(self, name: str, positions: np.ndarray, width: int) -> np.ndarray:
        """Rows ``positions`` (sorted, unique) of a fixed-size binary column, as ``(len, width)`` uint32."""
        out, start = [], 0
        for f in self.fragments:
            col = f.to_table(columns=[name])[name].combine_chunks()
            lo, hi = np.searchsorted(positions, [start, start + len(col)])
            if hi > lo:
                picked = col.take(pa.array(positions[lo:hi] - start))
                out.append(np.frombuffer(picked.buffers()[1], dtype=np.uint32, count=(hi - lo) * width,
                                         offset=picked.offset * width * 4).reshape(-1, width))
            start += len(col)
        return np.concatenate(out) if out else np.zeros((0, width), np.uint32)

    @staticmethod
    def _numpy(col: pa.ChunkedArray, fill: float | int | None) -> np.ndarray:
        if fill is not None:
            col = col.fill_null(fill)
        return col.to_numpy()


def _bucket_pairs(reader: _ColumnReader, band: str) -> tuple[np.ndarray, np.ndarray]:
    """``(leader, member)`` positions for every row sharing a bucket of one band with an earlier row."""
    positions, values = reader.valid_column(band)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    new_bucket = np.ones(len(order), dtype=bool)
    new_bucket[1:] = sorted_values[1:] != sorted_values[:-1]
    # Stable sort on ascending positions: each bucket starts with its earliest row, its leader.
    leader = positions[order][np.flatnonzero(new_bucket)[np.cumsum(new_bucket) - 1]]
    member = positions[order]
    linked = leader != member
    return leader[linked].astype(np.int64), member[linked].astype(np.int64)


def _candidate_edges(reader: _ColumnReader, band_columns: list[str], n: int) -> np.ndarray:
    """Unique ``(first, other)`` position pairs of rows that share a bucket in any band, as an (E, 2) array."""
    found = []
    for name in band_columns:
        leader, member = _bucket_pairs(reader, name)
        found.append(leader * n + member)
        if len(found) > 1:
            found = [np.unique(np.concatenate(found))]
    if not found or not len(found[0]):
        return np.zeros((0, 2), np.int64)
    codes = np.unique(found[0])
    return np.stack([codes // n, codes % n], axis=1)


@dataclass(frozen=True)
class _ParallelSpec:
    """What every task of ``reduce_parallel`` needs: the key files (in order), where to write, how to verify."""

    files: tuple[str, ...]
    work: str
    partitions: int
    threshold: float | None
    num_perm: int


def _band_candidates(task: tuple[_ParallelSpec, str]) -> int:
    spec, band = task
    leader, member = _bucket_pairs(_ColumnReader(ds.dataset(list(spec.files), format="parquet")), band)
    send(leader, member, Path(spec.work) / "candidates", band, spec.partitions)
    return int(leader.size)


def _verify_partition(task: tuple[_ParallelSpec, int]) -> int:
    spec, p = task
    leader, member = receive(Path(spec.work) / "candidates", p)
    edges = np.stack([leader, member], axis=1)
    if spec.threshold is not None and len(edges):
        reader = _ColumnReader(ds.dataset(list(spec.files), format="parquet"))
        edges = edges[_estimated_jaccard(reader, edges, spec.num_perm) >= spec.threshold]
    start(Path(spec.work) / "components", edges[:, 0], edges[:, 1], f"{p:05d}", spec.partitions)
    return int(len(edges))


def _estimated_jaccard(reader: _ColumnReader, edges: np.ndarray, num_perm: int) -> np.ndarray:
    """Share of equal signature slots for each edge, reading only the signatures of rows in some edge."""
    rows = np.unique(edges)
    signatures = reader.take_rows(_SIG, rows, num_perm)
    left, right = np.searchsorted(rows, edges[:, 0]), np.searchsorted(rows, edges[:, 1])
    out = np.empty(len(edges))
    for lo in range(0, len(edges), _EDGE_CHUNK):
        hi = lo + _EDGE_CHUNK
        out[lo:hi] = (signatures[left[lo:hi]] == signatures[right[lo:hi]]).mean(axis=1)
    return out


def union_find(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected components of ``n`` nodes: each node's label is the smallest node of its component.

    Vectorised hook-and-compress: every edge hooks the root of the larger label under the smaller one, then
    pointer jumping flattens the trees; labels only decrease, so it ends, in few rounds in practice.
    """
    label = np.arange(n, dtype=np.int64)
    if not len(edges):
        return label
    u, v = edges[:, 0], edges[:, 1]
    while True:
        lu, lv = label[u], label[v]
        differ = lu != lv
        if not differ.any():
            return label
        lu, lv = lu[differ], lv[differ]
        low = np.minimum(lu, lv)
        np.minimum.at(label, lu, low)
        np.minimum.at(label, lv, low)
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
