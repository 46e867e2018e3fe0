"""Replay: how close each document is to a text already known to be synthetic (a model's own outputs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.duplicates.index import MinHashIndex, VerifiedIndex, check, load, params_of, verify
from detectors.duplicates.minhash import as_lsh_weights, check_lsh_weights, lsh_params
from detectors.duplicates.shingles import MinHashParams
from filterkit.contract.detector import TEXT, Column, RowDetector
from filterkit.stage.rules import Rule

_SIGNING = ("num_perm", "ngram", "unit", "seed")


@dataclass
class ReplayDetector(RowDetector):
    """Highest estimated Jaccard between a document and any LSH candidate in a replay index.

    ``index`` is a directory made by ``filterkit index build``. The shingling and permutations are the
    index's own; any of ``num_perm``, ``ngram``, ``unit`` or ``seed`` given here must match them, or the
    detector refuses the index rather than compare signatures that mean different things. Bands and rows
    are chosen for ``threshold`` (recall-weighted, as in the minhash detector), which is also the default
    rule's threshold. A document with no candidate scores 0; one with no shingle scores NaN.

    Construction reads nothing; ``setup()`` checks the manifest, the parameters and every part's checksum,
    and the index is loaded into ``index_`` on the first ``score``.
    """

    name = "replay"
    scores = (Column("max_jaccard", doc="highest estimated Jaccard to an indexed text; NaN without shingles"),
              Column("match_id", pa.string(), doc="id of the closest indexed text, null without a candidate"),
              Column("reason", pa.string(), reason=True, doc="why max_jaccard is NaN: no shingles"))
    index: str = ""
    threshold: float = 0.6
    lsh_weights: tuple[float, float] = (0.1, 0.9)
    num_perm: int | None = None
    ngram: int | None = None
    unit: str | None = None
    seed: int | None = None
    index_: MinHashIndex | None = field(default=None, init=False, repr=False, compare=False)
    verified_: VerifiedIndex | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.index:
            raise ValueError("the replay detector needs an index: --param replay.index=INDEX_DIR "
                             "(built with `filterkit index build`)")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        check_lsh_weights(self.lsh_weights)
        MinHashParams(**self.given)  # the values alone (a unit or an ngram out of range); the index is setup's

    @property
    def given(self) -> dict[str, Any]:
        """The signing parameters set here, which the index's own must equal."""
        return {k: getattr(self, k) for k in _SIGNING if getattr(self, k) is not None}

    def setup(self) -> None:
        """Refuse a missing, foreign, mismatched or corrupt index now rather than on every row in the workers.

        The manifest and the checksums are kept, so loading in this process does not hash the parts again;
        once checked (or loaded), calling it again does nothing.
        """
        if self.verified_ is not None or self.index_ is not None:
            return
        verified = verify(self.index)
        params_of(verified.manifest, self.index)  # a foreign hash scheme or normaliser, before the parameters
        check(verified.manifest["params"], self.given, self.index)
        self.verified_ = verified

    def default_rules(self) -> list[Rule]:
        """Remove documents at least ``threshold`` similar to a known synthetic text."""
        return [Rule(f"{self.name}.max_jaccard", ">=", self.threshold, reason="replay")]

    def score(self, batch: pa.Table) -> pa.Table:
        """``replay.max_jaccard`` (float64), ``replay.match_id`` and ``replay.reason`` (strings) per row."""
        index = self._load()
        signatures, counts = index.params.hasher().sign(batch[TEXT])
        bands, rows = lsh_params(self.threshold, index.params.num_perm, *as_lsh_weights(self.lsh_weights))
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
        if self.index_ is None:
            # Without setup() (a worker process) loading verifies every part itself; after it, only changed ones.
            self.index_ = load(self.index, expected=self.given, verified=self.verified_)
        return self.index_
