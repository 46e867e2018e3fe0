"""Replay: how close each document is to a text already known to be synthetic (a model's own outputs)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filterkit.detector import TEXT, RowDetector
from detectors.minhash import lsh_params
from detectors.minhash_index import IndexParams, MinHashIndex, load, params_of, read_manifest, verify
from filterkit.rules import Rule


@dataclass
class ReplayDetector(RowDetector):
    """Highest estimated Jaccard between a document and any LSH candidate in a replay index.

    ``index`` is a directory made by ``filterkit index build``. The shingling and permutations are the
    index's own; any of ``num_perm``, ``ngram``, ``unit`` or ``seed`` given here must match them, or the
    detector refuses the index rather than compare signatures that mean different things. Bands and rows
    are chosen for ``threshold`` (recall-weighted, as in the minhash detector), which is also the default
    rule's threshold. A document with no candidate scores 0; one with no shingle scores NaN.
    """

    name = "replay"
    scores = ("max_jaccard",)
    index: str = ""
    threshold: float = 0.6
    lsh_weights: tuple[float, float] = (0.1, 0.9)
    num_perm: int | None = None
    ngram: int | None = None
    unit: str | None = None
    seed: int | None = None
    _index: MinHashIndex | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.index:
            raise ValueError("the replay detector needs an index: --param replay.index=INDEX_DIR "
                             "(built with `filterkit index build`)")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        self.lsh_weights = tuple(float(w) for w in self.lsh_weights)
        # Checking the manifest and every part's checksum now makes a missing, foreign, mismatched or corrupt
        # index fail before any work, rather than as an error on every row in the workers.
        self.expected.check(verify(self.index)["params"], self.index)

    @property
    def columns(self) -> list[str]:
        """The score, the id of the closest indexed text, and why a score is NaN."""
        return [f"{self.name}.max_jaccard", f"{self.name}.match_id", f"{self.name}.reason"]

    @property
    def expected(self) -> IndexParams:
        """The index's parameters, overridden by those given here (which must then match)."""
        stored = params_of(read_manifest(self.index), self.index)
        given = {k: getattr(self, k) for k in ("num_perm", "ngram", "unit", "seed") if getattr(self, k) is not None}
        return IndexParams(**{**stored.__dict__, **given})

    def default_rules(self) -> list[Rule]:
        """Remove documents at least ``threshold`` similar to a known synthetic text."""
        return [Rule(f"{self.name}.max_jaccard", ">=", self.threshold, reason="replay")]

    def score(self, batch: pa.Table) -> pa.Table:
        """``replay.max_jaccard`` (float64), ``replay.match_id`` and ``replay.reason`` (strings) per row."""
        index = self._load()
        signatures, counts = index.params.hasher().sign(batch[TEXT])
        bands, rows = lsh_params(self.threshold, index.params.num_perm, *self.lsh_weights)
        best, match = index.query(signatures, bands, rows)
        found = match >= 0
        match_id = pa.nulls(len(match), pa.string())
        if found.any():
            taken = index.ids.take(pa.array(np.where(found, match, 0)))
            match_id = pc.if_else(pa.array(found), taken, match_id)
        return pa.table({
            f"{self.name}.max_jaccard": pa.array(best, pa.float64()),
            f"{self.name}.match_id": match_id,
            f"{self.name}.reason": pa.array(np.where(counts == 0, "no shingles", None).tolist(), pa.string()),
        })

    def _load(self) -> MinHashIndex:
        if self._index is None:
            self._index = load(self.index, expected=self.expected)
        return self._index
