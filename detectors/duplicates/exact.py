"""Exact duplicates: documents whose normalised text hashes the same; the first occurrence survives."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from filterkit.contract.detector import REMOVED_ANYWAY, ROW, SHARD, TEXT, Column, CorpusDetector
from filterkit.contract.normalize import normalize_texts
from filterkit.stage.rules import Rule


@dataclass
class ExactDuplicates(CorpusDetector):
    """Hash of the text after NFKC, zero-width stripping, case folding and whitespace collapsing.

    Keeps the first occurrence in corpus order (shard, then row) that no other rule removes (the first of all when
    other rules remove every copy) and marks the others as duplicates.
    """

    name = "exact"
    scores = (Column("is_duplicate", pa.bool_(), doc="a copy of an earlier row"),
              Column("cluster_size", doc="rows with the same normalised text, this one included"))
    fold_case: bool = True

    def default_rules(self) -> list[Rule]:
        """Remove every copy but the first."""
        return [Rule(f"{self.name}.is_duplicate", ">=", 1.0, reason="exact_duplicate")]

    def map(self, batch: pa.Table) -> pa.Table:
        """Two 64-bit halves of a 128-bit BLAKE2b digest of each normalised text."""
        texts = normalize_texts(batch[TEXT], case=self.fold_case).to_pylist()
        digests = b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts)
        halves = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
        return pa.table({"h0": halves[:, 0], "h1": halves[:, 1]})

    def reduce(self, keys: ds.Dataset) -> pa.Table:
        """Group equal hashes; within a group the smallest (shard, row) that no other rule removes is the original."""
        anyway = REMOVED_ANYWAY in keys.schema.names
        t = keys.to_table(columns=["h0", "h1", SHARD, ROW] + ([REMOVED_ANYWAY] if anyway else []))
        h0, h1 = t["h0"].to_numpy(), t["h1"].to_numpy()
        shard, row = t[SHARD].to_numpy(), t[ROW].to_numpy()
        removed = t[REMOVED_ANYWAY].to_numpy(zero_copy_only=False) if anyway else np.zeros(len(h0), bool)
        order = np.lexsort((row, shard, removed, h1, h0))
        h0s, h1s = h0[order], h1[order]
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = (h0s[1:] != h0s[:-1]) | (h1s[1:] != h1s[:-1])
        group = np.cumsum(starts) - 1
        sizes = np.bincount(group)[group] if len(order) else np.zeros(0, dtype=np.int64)
        out = pa.table(
            {
                SHARD: shard[order],
                ROW: row[order],
                f"{self.name}.is_duplicate": ~starts,
                f"{self.name}.cluster_size": sizes.astype(np.float64),
            }
        )
        return out.sort_by([(SHARD, "ascending"), (ROW, "ascending")])
