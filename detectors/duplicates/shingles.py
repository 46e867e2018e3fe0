"""Bulk shingle hashing: a batch of texts in, one flat array of 64-bit shingle hashes (plus row offsets) out.

No shingle is ever built as a Python string. Tokens (words, or characters) are hashed once per distinct
token with a polynomial hash over their UTF-8 bytes in numpy; a shingle's hash combines the hashes of its
``n`` tokens with fixed odd multipliers (position-dependent, so order matters) and an avalanche mix.
Everything is uint64 arithmetic whose wrap-around is the intended modulo 2**64.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filterkit.contract.normalize import defend_texts, normalize_texts

Unit = Literal["word", "char"]
# Punctuation and symbols (Unicode P* and S*) become spaces, so "end." and "end" are the same word.
PUNCTUATION = r"[\p{P}\p{S}]+"

_U64 = np.uint64
_BYTE_BASE = _U64(0x100000001B3)  # FNV-64 prime: odd, so powers of it never collapse to zero mod 2**64
_LENGTH_SALT = _U64(0x9E3779B97F4A7C15)
# Fixed odd multipliers for the positions inside a shingle, never user-seeded (the user's seed picks the
# MinHash permutations, as in datasketch). RandomState, not Generator: its stream is frozen across numpy
# versions, and a changed constant would silently make every stored index incomparable.
_POSITION_MULTIPLIERS = (np.random.RandomState(0x5EED).randint(0, 2**62, size=1024, dtype=np.uint64) * _U64(4)
                         + _U64(1))
_POSITION_MULTIPLIERS.setflags(write=False)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, a bijection that spreads every input bit over every output bit."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


@dataclass(frozen=True)
class Shingling:
    """How a text becomes a set of shingles: normalisation, unit (word or character) and n."""

    ngram: int = 5
    unit: Unit = "word"
    lowercase: bool = True
    strip_punctuation: bool = True

    def __post_init__(self) -> None:
        if self.unit not in ("word", "char"):
            raise ValueError(f"shingle unit must be 'word' or 'char', got {self.unit!r}")
        if not 1 <= self.ngram <= len(_POSITION_MULTIPLIERS):
            raise ValueError(f"ngram must be between 1 and {len(_POSITION_MULTIPLIERS)}, got {self.ngram}")

    @property
    def normaliser(self) -> str:
        """What ``normalize`` does, as recorded in an index manifest."""
        steps = ["nfkc", "zero-width", "homoglyphs"] + ["lowercase"] * self.lowercase
        return ",".join(steps + ["punctuation"] * self.strip_punctuation + ["whitespace"])

    def normalize(self, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The text every shingle is cut from: NFKC, zero-width characters dropped, Cyrillic and Greek
        look-alikes folded to Latin, case folded, punctuation and symbols turned into spaces, whitespace
        collapsed to single spaces."""
        texts = _large_strings(texts)
        ascii_only = pc.string_is_ascii(texts)
        if not pc.all(ascii_only).as_py():
            other = pc.invert(ascii_only)
            texts = pc.replace_with_mask(texts, other, _defend(texts.filter(other)))
        out = normalize_texts(texts, case=self.lowercase)
        if self.strip_punctuation:
            # normalize_texts left single spaces only, so the punctuation's spaces are all that need collapsing.
            out = pc.replace_substring_regex(out, pattern=PUNCTUATION, replacement=" ")
            out = pc.utf8_trim_whitespace(pc.replace_substring_regex(out, pattern=" {2,}", replacement=" "))
        return out

    def _normalize_words(self, words: pa.Array) -> pa.Array:
        """``normalize`` for distinct raw words; the result may hold spaces (``don't`` -> ``don t``).

        Pure-ASCII words skip NFKC, zero-width removal and homoglyph folding, which cannot change them, and
        all-alphanumeric words skip the punctuation regex: on typical text that leaves a few percent of the
        vocabulary for the expensive Unicode passes.
        """
        ascii_only = pc.string_is_ascii(words)
        out = pc.ascii_lower(words) if self.lowercase else words
        if not pc.all(ascii_only).as_py():
            other = pc.invert(ascii_only)
            normalized = normalize_texts(_defend(words.filter(other)), case=self.lowercase)
            out = pc.replace_with_mask(out, other, normalized)
        if self.strip_punctuation:
            symbols = pc.invert(pc.fill_null(pc.utf8_is_alnum(out), False))
            if pc.any(symbols).as_py():
                spaced = pc.replace_substring_regex(out.filter(symbols), pattern=PUNCTUATION, replacement=" ")
                out = pc.replace_with_mask(out, symbols, spaced)
        return out

    def hash_shingles(self, texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(hashes, offsets)``: row ``i``'s shingle hashes are ``hashes[offsets[i]:offsets[i + 1]]``.

        A text with at least one token but fewer than ``ngram`` has one shingle (all its tokens); an empty
        text has none.
        """
        texts = _large_strings(texts)
        if self.unit == "word":
            token_hashes, row_offsets = self._word_token_hashes(texts)
        else:
            token_hashes, row_offsets = _char_token_hashes(self.normalize(texts))
        return _combine(token_hashes, row_offsets, self.ngram)

    def _word_token_hashes(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of the normalised words of every text, normalising each distinct raw word only once.

        Splitting on whitespace first and normalising the vocabulary gives the words that normalising the
        whole text would give (a raw word may become several words, e.g. ``don't`` -> ``don t``, or none,
        e.g. ``--``), at the cost of the distinct words instead of every byte of the batch.
        """
        # ASCII whitespace is enough here: the vocabulary is split again on Unicode whitespace below.
        raw = pc.ascii_split_whitespace(texts)
        raw_offsets = _list_offsets(raw)
        encoded = pc.dictionary_encode(raw.flatten())
        if len(encoded) == 0:
            return np.zeros(0, dtype=_U64), raw_offsets
        pieces, piece_offsets = _split_nonempty(self._normalize_words(encoded.dictionary))
        data, offsets = _string_buffers(pieces)
        piece_hashes = hash_strings(data, offsets)
        # Expand every raw word into the hashes of the 0, 1 or more words it normalises to.
        word = encoded.indices.to_numpy(zero_copy_only=False)
        n_pieces = np.diff(piece_offsets)[word]
        first = np.repeat(piece_offsets[:-1][word], n_pieces)
        out_start = np.cumsum(n_pieces) - n_pieces
        within = np.arange(int(n_pieces.sum())) - np.repeat(out_start, n_pieces)
        token_hashes = piece_hashes[first + within]
        ends = np.concatenate([[0], np.cumsum(n_pieces)])
        return token_hashes, ends[raw_offsets].astype(np.int64)


def _defend(texts: pa.Array) -> pa.Array:
    """The pipeline's shared defence (NFKC, zero-width, homoglyphs). It is idempotent, so texts sign the same
    whether or not the pipeline defended them first, which keeps a replay index (built outside the
    pipeline) comparable with the documents the replay detector scores."""
    return pa.array(defend_texts(texts), pa.large_string())


def _large_strings(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    return pc.fill_null(texts.cast(pa.large_string()), "")


def _split_nonempty(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """All words of all texts, flat, and each text's offsets into them; empty words (Arrow yields one for
    ``""`` and for leading or trailing whitespace) are dropped."""
    lists = pc.utf8_split_whitespace(texts)
    flat, offsets = lists.flatten(), _list_offsets(lists)
    nonempty = pc.binary_length(flat).to_numpy(zero_copy_only=False) > 0
    if nonempty.all():
        return flat, offsets
    kept_before = np.concatenate([[0], np.cumsum(nonempty)])
    return flat.filter(pa.array(nonempty)), kept_before[offsets]


def _list_offsets(lists: pa.Array) -> np.ndarray:
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    return offsets - offsets[0]


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and the (int64) offsets of a string array, without copying the bytes."""
    offsets_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=offsets_type)[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def hash_strings(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """64-bit hash of each byte string ``data[offsets[i]:offsets[i + 1]]``, all at once in numpy."""
    lengths = np.diff(offsets)
    n = len(lengths)
    out = np.zeros(n, dtype=_U64)
    if n == 0:
        return out
    lo, hi = int(offsets[0]), int(offsets[-1])
    if hi > lo:
        # sum_i byte_i * BASE**(distance from the string's end): one gather, one multiply, one segmented sum.
        max_len = int(lengths.max())
        powers = np.empty(max_len, dtype=_U64)
        powers[0] = 1
        if max_len > 1:
            powers[1:] = _BYTE_BASE
            powers = np.cumprod(powers, dtype=_U64)
        ends = np.repeat(offsets[1:], lengths)
        from_end = ends - np.arange(lo, hi) - 1
        contrib = (data[lo:hi].astype(_U64) + _U64(1)) * powers[from_end]
        nonempty = lengths > 0
        out[nonempty] = np.add.reduceat(contrib, (offsets[:-1] - lo)[nonempty])
    return fmix64(out + lengths.astype(_U64) * _LENGTH_SALT)


def _char_token_hashes(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    # A character starts at every byte that is not a UTF-8 continuation byte (10xxxxxx).
    data, offsets = _string_buffers(norm)
    lo, hi = int(offsets[0]), int(offsets[-1])
    body = data[lo:hi]
    starts = np.flatnonzero((body & 0xC0) != 0x80)
    char_offsets = np.append(starts, hi - lo)
    char_hashes = hash_strings(body, char_offsets)
    row_offsets = np.searchsorted(starts, offsets - lo, side="left").astype(np.int64)
    return char_hashes, row_offsets


def _combine(token_hashes: np.ndarray, row_offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every window of ``n`` consecutive tokens that stays inside one row."""
    counts = np.diff(row_offsets)
    per_row = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
    shingle_offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int64)
    total = len(token_hashes)
    if total == 0:
        return np.zeros(0, dtype=_U64), shingle_offsets
    # Every window over the whole flat array first (cheap slices), then keep those inside one row.
    padded = np.concatenate([token_hashes, np.zeros(n - 1, dtype=_U64)])
    acc = padded[:total] * _POSITION_MULTIPLIERS[0]
    for k in range(1, n):
        acc += padded[k: k + total] * _POSITION_MULTIPLIERS[k]
    width = np.full(total, n, dtype=_U64)
    row_of_token = np.repeat(np.arange(len(counts)), counts)
    keep = np.arange(total) + n <= row_offsets[1:][row_of_token]
    # A row shorter than n has one shingle of all its tokens, summed here without the neighbours' tokens.
    short = np.flatnonzero((counts > 0) & (counts < n))
    if len(short):
        first = row_offsets[short]
        partial = np.zeros(len(short), dtype=_U64)
        for k in range(n - 1):
            inside = k < counts[short]
            partial += np.where(inside, token_hashes[np.minimum(first + k, total - 1)] * _POSITION_MULTIPLIERS[k],
                                _U64(0))
        acc[first] = partial
        width[first] = counts[short].astype(_U64)
        keep[first] = True
    return fmix64(acc[keep] + width[keep] * _LENGTH_SALT), shingle_offsets


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, the pre-mix datasketch applies before its affine permutations."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


EMPTY = np.uint32(0xFFFFFFFF)
"""Signature value of a permutation that saw no shingle: every slot of an empty document holds it."""


@dataclass(frozen=True)
class MinHasher:
    """MinHash signatures of whole batches, equal to datasketch's ``MinHash(num_perm, seed)`` (scheme
    ``affine32``, its default) fed the 32-bit shingle hashes: ``min_k (a_k * fmix32(h) + b_k) mod 2**32``.

    The work is one uint32 multiply-add and a segmented minimum per shingle and permutation, laid out
    permutation-major so numpy streams contiguous rows; memory stays at ``chunk * num_perm * 4`` bytes.
    """

    num_perm: int = 128
    seed: int = 1
    shingling: Shingling = Shingling()
    chunk: int = 4096

    def __post_init__(self) -> None:
        if not 1 <= self.num_perm <= 1024:
            raise ValueError(f"num_perm must be between 1 and 1024, got {self.num_perm}")

    @property
    def scheme(self) -> str:
        """Which hash family the signatures come from; an index built with another one is not comparable."""
        return "filterkit-poly64-v1/datasketch-affine32"

    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``(a, b)`` that datasketch's ``MinHash(num_perm, seed, scheme="affine32")`` draws (odd ``a``).

        Drawn here the way datasketch draws them, because importing datasketch costs every worker a second.
        """
        gen = np.random.RandomState(self.seed)
        a = gen.randint(0, 1 << 31, self.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, self.num_perm, dtype=np.uint32)
        return a, b

    def sign(self, texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(signatures, shingle_counts)``: a ``(rows, num_perm)`` uint32 matrix and shingles per row."""
        hashes, offsets = self.shingling.hash_shingles(texts)
        return self.sign_hashes(hashes, offsets), np.diff(offsets)

    def sign_hashes(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Signatures from 64-bit shingle hashes grouped by ``offsets``; rows with no shingle are all EMPTY."""
        a, b = self.permutations()
        x = fmix32((hashes >> _U64(32)).astype(np.uint32))
        rows = len(offsets) - 1
        out = np.full((self.num_perm, rows), EMPTY, dtype=np.uint32)
        counts = np.diff(offsets)
        lo_row = 0
        while lo_row < rows:
            hi_row = int(np.searchsorted(offsets, offsets[lo_row] + self.chunk, side="right")) - 1
            hi_row = min(max(hi_row, lo_row + 1), rows)
            lo, hi = int(offsets[lo_row]), int(offsets[hi_row])
            if hi > lo:
                block = np.multiply(a[:, None], x[None, lo:hi])
                block += b[:, None]
                filled = np.flatnonzero(counts[lo_row:hi_row] > 0)
                out[:, lo_row + filled] = np.minimum.reduceat(block, offsets[lo_row + filled] - lo, axis=1)
            lo_row = hi_row
        return np.ascontiguousarray(out.T)


@dataclass(frozen=True)
class MinHashParams:
    """Everything that decides a MinHash signature, shared by the minhash detector and the replay index: two
    signatures (or indexes) compare only when all of it is equal."""

    num_perm: int = 128
    ngram: int = 5
    unit: Unit = "word"
    seed: int = 1
    lowercase: bool = True
    strip_punctuation: bool = True

    def __post_init__(self) -> None:
        # Building the signer runs Shingling's and MinHasher's own checks, so the ranges live in one place.
        self.hasher()

    def hasher(self) -> MinHasher:
        """The signer these parameters describe."""
        shingling = Shingling(ngram=self.ngram, unit=self.unit, lowercase=self.lowercase,
                              strip_punctuation=self.strip_punctuation)
        return MinHasher(num_perm=self.num_perm, seed=self.seed, shingling=shingling)

    def describe(self) -> dict[str, Any]:
        """Plain data for an index manifest: the parameters, the hash scheme and the normaliser of this version."""
        hasher = self.hasher()
        return {**asdict(self), "scheme": hasher.scheme, "normaliser": hasher.shingling.normaliser}


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band and document (``(docs, bands)`` uint64): equal bands give equal keys."""
    sig = signatures[:, : bands * rows].astype(_U64).reshape(len(signatures), bands, rows)
    acc = np.zeros((len(signatures), bands), dtype=_U64)
    for k in range(rows):
        acc += sig[:, :, k] * _POSITION_MULTIPLIERS[k]
    return fmix64(acc + np.arange(bands, dtype=_U64) * _LENGTH_SALT)
