"""A persistent MinHash index of texts known to be synthetic (a replay index): build, add, load, query.

On disk an index is a directory: ``manifest.json`` (format, version, the signing parameters, and every
part file with its row count and SHA-256) and ``parts/part-NNNNN.parquet`` (columns ``id`` and
``signature``, a fixed-size binary of ``num_perm`` little-endian uint32). Nothing is pickled. ``add``
writes a new part and then swaps the manifest atomically, so a killed ``add`` leaves the old index intact.
Loading checks the checksums and refuses an index signed with parameters other than those expected.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from detectors.duplicates.shingles import EMPTY, MinHashParams, band_keys
from filterkit.io.readers import read_table
from filterkit.io.sources import discover
from filterkit.io.storage import read_json, write_json, write_parquet

log = logging.getLogger(__name__)
FORMAT = "filterkit-minhash-index"
VERSION = 1
MANIFEST = "manifest.json"
_BATCH = 8192
_PART_ROWS = 262_144


class ReplayIndexError(ValueError):
    """An index directory that is missing, corrupt, or not a filterkit MinHash index."""


class IndexMismatchError(ReplayIndexError):
    """An index signed with other parameters than the caller's: its signatures are not comparable."""


IndexParams = MinHashParams
"""The signing parameters an index records (the same class the minhash detector signs with)."""


def check(found: dict[str, Any], expected: MinHashParams | Mapping[str, Any], where: str) -> None:
    """Raise IndexMismatchError naming every parameter where the manifest's ``found`` differs from ``expected``:
    all of them (a MinHashParams) or only those named (a mapping, e.g. what a detector was given)."""
    wanted = expected.describe() if isinstance(expected, MinHashParams) else dict(expected)
    diffs = [f"{k}: index has {found.get(k)!r}, expected {v!r}" for k, v in wanted.items() if found.get(k) != v]
    if diffs:
        raise IndexMismatchError(f"{where} was built with other MinHash parameters, so its signatures cannot "
                                 f"be compared ({'; '.join(diffs)}); rebuild it or use matching parameters")


@dataclass(frozen=True)
class VerifiedIndex:
    """A manifest whose every part matched its SHA-256, with each part's (size, mtime) when it was hashed, so
    that loading can trust a part that has not changed since instead of hashing it again."""

    path: Path
    manifest: dict[str, Any]
    stamps: tuple[tuple[int, int], ...]


@dataclass
class MinHashIndex:
    """Signatures and ids of the indexed texts, with LSH lookups built on demand for a band shape."""

    path: Path
    params: MinHashParams
    ids: pa.Array
    signatures: np.ndarray
    _tables: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.signatures)

    def query(self, signatures: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """For each query signature: the highest estimated Jaccard among its LSH candidates (0 if none) and
        the position of that entry (-1 if none). Rows whose signature is empty get NaN."""
        m = len(signatures)
        best = np.zeros(m)
        match = np.full(m, -1, dtype=np.int64)
        empty = (signatures == EMPTY).all(axis=1)
        best[empty] = np.nan
        if not len(self) or not m:
            return best, match
        keys = band_keys(signatures, bands, rows)
        pairs = []
        for j, (sorted_keys, entries) in enumerate(self._lookup(bands, rows)):
            lo = np.searchsorted(sorted_keys, keys[:, j], side="left")
            hi = np.searchsorted(sorted_keys, keys[:, j], side="right")
            hits = np.flatnonzero((hi > lo) & ~empty)
            counts = (hi - lo)[hits]
            query = np.repeat(hits, counts)
            within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            pairs.append(query * len(self) + entries[np.repeat(lo[hits], counts) + within])
        codes = np.unique(np.concatenate(pairs))
        if not len(codes):
            return best, match
        q, e = codes // len(self), codes % len(self)
        sim = (signatures[q] == self.signatures[e]).mean(axis=1)
        # Highest similarity per query; among equals the earliest entry, so results do not depend on order.
        order = np.lexsort((e, -sim, q))
        first = np.ones(len(order), dtype=bool)
        first[1:] = q[order][1:] != q[order][:-1]
        best[q[order][first]] = sim[order][first]
        match[q[order][first]] = e[order][first]
        return best, match

    def _lookup(self, bands: int, rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if (bands, rows) not in self._tables:
            keys = band_keys(self.signatures, bands, rows)
            keep = ~(self.signatures == EMPTY).all(axis=1)
            tables = []
            for j in range(bands):
                entries = np.flatnonzero(keep)
                order = np.argsort(keys[entries, j], kind="stable")
                tables.append((keys[entries[order], j], entries[order]))
            self._tables[(bands, rows)] = tables
        return self._tables[(bands, rows)]


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of an index directory, checked for format and version (the parts are not read)."""
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        raise ReplayIndexError(f"{path} is not a MinHash index: {file} does not exist (build one with `filterkit index "
                         f"build`)")
    try:
        manifest = read_json(file)
    except (OSError, ValueError) as exc:
        raise ReplayIndexError(f"{file} is not valid JSON, the index is corrupt: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReplayIndexError(f"{file} is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ReplayIndexError(f"{path} has index format version {manifest.get('version')!r}; this filterkit reads "
                         f"version {VERSION}: rebuild the index")
    for part in manifest.get("parts", []):
        part_path = path / part["file"]
        if not part_path.is_file():
            raise ReplayIndexError(f"{path}: part {part['file']} is missing, the index is incomplete")
        if part_path.stat().st_size != part["bytes"]:
            raise ReplayIndexError(f"{path}: part {part['file']} has {part_path.stat().st_size} bytes, the manifest "
                             f"says {part['bytes']}: the index is corrupt")
    return manifest


def verify(path: str | Path) -> VerifiedIndex:
    """The manifest, after checking every part's SHA-256 (streamed), so a corrupt index fails before any work."""
    path = Path(path)
    manifest = read_manifest(path)
    stamps = []
    for part in manifest["parts"]:
        part_path = path / part["file"]
        # Stamped before hashing: a part rewritten while it is hashed then looks changed, and is hashed on load.
        stamps.append(_stamp(part_path))
        with part_path.open("rb") as f:
            _check_digest(iter(lambda: f.read(1 << 20), b""), part, part_path)
    return VerifiedIndex(path=path, manifest=manifest, stamps=tuple(stamps))


def load(path: str | Path, expected: MinHashParams | Mapping[str, Any] | None = None, *,
         verified: VerifiedIndex | None = None) -> MinHashIndex:
    """Read an index, checking every part's checksum unless ``verified`` (what ``verify`` returned for this
    path) already did for an unchanged part; with ``expected``, refuse other parameters (see ``check``)."""
    path = Path(path)
    if verified is not None and verified.path != path:
        raise ValueError(f"the verified index is {verified.path}, not {path}")
    # The verified manifest, not a fresh read: it lists exactly the parts whose checksums were checked.
    manifest = verified.manifest if verified is not None else read_manifest(path)
    params = params_of(manifest, path)
    if expected is not None:
        check(manifest["params"], expected, str(path))
    ids, signatures = [], []
    for i, part in enumerate(manifest["parts"]):
        part_path = path / part["file"]
        trusted = verified is not None and _stamp(part_path) == verified.stamps[i]
        try:
            data = part_path.read_bytes()
        except OSError as exc:
            raise ReplayIndexError(f"{path}: part {part['file']} cannot be read, the index is incomplete: {exc}") \
                from exc
        if not trusted:
            _check_digest([data], part, part_path)
        try:
            table = pq.read_table(pa.BufferReader(data))
        except pa.ArrowException as exc:
            raise ReplayIndexError(f"{part_path} cannot be read as Parquet, the index is corrupt: {exc}") from exc
        ids.append(table["id"].combine_chunks().cast(pa.string()))
        signatures.append(_signature_matrix(table["signature"].combine_chunks(), params.num_perm, part_path))
    index = MinHashIndex(
        path=path,
        params=params,
        ids=pa.concat_arrays(ids) if ids else pa.array([], pa.string()),
        signatures=np.concatenate(signatures) if signatures else np.zeros((0, params.num_perm), np.uint32),
    )
    if len(index) != manifest["count"]:
        raise ReplayIndexError(f"{path}: holds {len(index)} entries, the manifest says {manifest['count']}")
    return index


def _stamp(part_path: Path) -> tuple[int, int]:
    """What tells a part file apart from a rewritten one without reading it: its size and modification time."""
    try:
        st = part_path.stat()
    except OSError:
        return (-1, -1)  # a vanished part never matches a stamp, so loading reports it
    return (st.st_size, st.st_mtime_ns)


def _sha256(blocks: Iterable[bytes]) -> str:
    """Hex SHA-256 of the concatenated blocks; every checksum of a part goes through here, once per part."""
    digest = hashlib.sha256()
    for block in blocks:
        digest.update(block)
    return digest.hexdigest()


def _check_digest(blocks: Iterable[bytes], part: dict[str, Any], part_path: Path) -> None:
    if _sha256(blocks) != part["sha256"]:
        raise ReplayIndexError(f"{part_path}: checksum does not match the manifest, the index is corrupt")


def build(inputs: Iterable[str], out: str | Path, params: MinHashParams | None = None, *, text_column: str = "text",
          id_column: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Sign the texts of Parquet/JSONL ``inputs`` into a new index at ``out``; returns its manifest."""
    out = Path(out)
    params = params or MinHashParams()
    if (out / MANIFEST).exists() and not overwrite:
        raise ReplayIndexError(f"{out} already holds an index; use `add` to extend it or overwrite to replace it")
    if out.exists() and any(p for p in out.iterdir() if p.name not in (MANIFEST, "parts")):
        raise ReplayIndexError(f"{out} is not empty and is not an index; refusing to write into it")
    manifest = {"format": FORMAT, "version": VERSION, "params": params.describe(), "count": 0, "parts": []}
    sources = _sources(inputs, text_column, id_column)
    if overwrite:
        # The manifest goes first: a build killed half-way leaves no index rather than a wrong one.
        (out / MANIFEST).unlink(missing_ok=True)
        for old in (out / "parts").glob("*.parquet"):
            old.unlink()
    return _append(out, manifest, params, _records(sources, text_column, id_column))


def add(path: str | Path, inputs: Iterable[str], params: MinHashParams | None = None, *, text_column: str = "text",
        id_column: str | None = None) -> dict[str, Any]:
    """Sign more texts into an existing index, with the index's own parameters; returns the new manifest.

    With ``params``, refuses an index built with other ones rather than mixing signatures.
    """
    path = Path(path)
    manifest = read_manifest(path)
    found = params_of(manifest, path)
    if params is not None:
        check(manifest["params"], params, str(path))
    return _append(path, manifest, found, _records(_sources(inputs, text_column, id_column), text_column, id_column))


def build_from_texts(texts: list[str], ids: list[str], out: str | Path, params: MinHashParams | None = None,
                     *, overwrite: bool = False) -> dict[str, Any]:
    """Build an index from texts in memory (tests, notebooks); ids name what ``replay.match_id`` reports."""
    out = Path(out)
    params = params or MinHashParams()
    if (out / MANIFEST).exists() and not overwrite:
        raise ReplayIndexError(f"{out} already holds an index")
    manifest = {"format": FORMAT, "version": VERSION, "params": params.describe(), "count": 0, "parts": []}
    table = pa.table({"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())})
    return _append(out, manifest, params, iter([table]))


def params_of(manifest: dict[str, Any], path: str | Path) -> MinHashParams:
    """The signing parameters a manifest records; refuses a hash scheme this version does not sign with."""
    stored = dict(manifest.get("params") or {})
    scheme = stored.pop("scheme", None)
    normaliser = stored.pop("normaliser", None)
    try:
        params = MinHashParams(**stored)
    except (TypeError, ValueError) as exc:
        raise ReplayIndexError(f"{path}: manifest parameters are not understood: {exc}") from exc
    hasher = params.hasher()
    if scheme != hasher.scheme or normaliser != hasher.shingling.normaliser:
        raise IndexMismatchError(f"{path} was signed with hash scheme {scheme!r} after normalising with "
                                 f"{normaliser!r}; this filterkit signs with {hasher.scheme!r} after "
                                 f"{hasher.shingling.normaliser!r}: rebuild the index")
    return params


def _sources(inputs: Iterable[str], text_column: str, id_column: str | None) -> list[tuple[str, ds.Dataset]]:
    """Input files of any format (Parquet, JSON Lines, Arrow), directories or globs, checked for the columns."""
    inputs = list(inputs)
    json_files = [i for i in inputs if i.endswith(".json")]  # a .json file of records, named explicitly
    sources: list[tuple[str, ds.Dataset]] = []
    others = [i for i in inputs if i not in json_files]
    for f in discover(others) if others else []:
        dataset = ds.dataset(f.path, format="parquet") if f.format == "parquet" else ds.dataset(read_table([f]))
        sources.append((f.source, dataset))
    for item in json_files:
        if not Path(item).is_file():
            raise FileNotFoundError(f"input {item!r} does not exist")
        sources.append((Path(item).name, ds.dataset(item, format="json")))
    if not sources:
        raise FileNotFoundError(f"no input texts found in {inputs}")
    for source, dataset in sources:
        names = dataset.schema.names
        missing = [c for c in (text_column, id_column) if c and c not in names]
        if missing:
            raise ValueError(f"{source}: no column {missing[0]!r}; its columns are {names}")
    return sources


def _records(sources: list[tuple[str, ds.Dataset]], text_column: str, id_column: str | None) -> Iterator[pa.Table]:
    """Tables of ``id`` (the id column, or ``file:row``) and ``text``, a batch at a time."""
    for source, dataset in sources:
        row = 0
        for batch in dataset.to_batches(columns=[c for c in (text_column, id_column) if c], batch_size=_BATCH):
            n = batch.num_rows
            if id_column:
                ids = batch[id_column].cast(pa.string())
            else:
                ids = pa.array([f"{source}:{i}" for i in range(row, row + n)], pa.string())
            row += n
            yield pa.table({"id": ids, "text": batch[text_column].cast(pa.string())})


def _append(out: Path, manifest: dict[str, Any], params: MinHashParams, tables: Iterator[pa.Table]) -> dict[str, Any]:
    """Sign ``tables`` into new part files (a part per ``_PART_ROWS`` rows), then commit the manifest."""
    hasher = params.hasher()
    parts = list(manifest["parts"])
    ids: list[pa.Array] = []
    signatures: list[np.ndarray] = []

    def flush() -> None:
        n = sum(len(s) for s in signatures)
        if not n:
            return
        sig = np.concatenate(signatures).astype("<u4")
        column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 * params.num_perm), n,
                                                      [None, pa.py_buffer(sig.tobytes())])
        # A part file left by a killed run is not in the manifest, so its name is free to reuse.
        name = f"parts/part-{len(parts):05d}.parquet"
        write_parquet(pa.table({"id": pa.concat_arrays(ids), "signature": column}), out / name)
        data = (out / name).read_bytes()
        parts.append({"file": name, "rows": n, "bytes": len(data), "sha256": _sha256([data])})
        ids.clear()
        signatures.clear()

    for table in tables:
        sig, _ = hasher.sign(table["text"])
        ids.append(table["id"].combine_chunks())
        signatures.append(sig)
        if sum(len(s) for s in signatures) >= _PART_ROWS:
            flush()
    flush()
    manifest = {**manifest, "count": sum(p["rows"] for p in parts), "parts": parts}
    out.mkdir(parents=True, exist_ok=True)
    write_json(manifest, out / MANIFEST)
    log.info("index %s: %d entries in %d parts", out, manifest["count"], len(parts))
    return json.loads(json.dumps(manifest))


def _signature_matrix(column: pa.Array, num_perm: int, where: Path) -> np.ndarray:
    if not pa.types.is_fixed_size_binary(column.type) or column.type.byte_width != 4 * num_perm:
        raise ReplayIndexError(f"{where}: signature column has type {column.type}, expected fixed_size_binary"
                         f"[{4 * num_perm}] for num_perm={num_perm}: the index is corrupt")
    buf = column.buffers()[1]
    return np.frombuffer(buf, dtype="<u4", count=len(column) * num_perm,
                         offset=column.offset * 4 * num_perm).astype(np.uint32).reshape(len(column), num_perm)
