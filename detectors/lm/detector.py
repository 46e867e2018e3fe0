"""Causal-LM statistics in one forward pass per document: perplexity, log-rank, entropy, GLTR buckets,
the Fast-DetectGPT analytic discrepancy and, with an observer model, the Binoculars ratio."""
from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from detectors.device import check_device, resolve_device
from detectors.lm.models import (
    DEFAULT_MODEL,
    ModelError,
    ModelRef,
    load_causal_lm,
    load_tokenizer,
    quantize_int8,
    resolve_model,
    torch_threads,
)
from detectors.lm.stats import add_to_sums, new_sums, position_stats, scores_from_sums
from filterkit.contract.detector import TEXT, Column, RowDetector, RowsDone
from filterkit.stage.rules import Rule

log = logging.getLogger(__name__)

FASTDETECT_THRESHOLD = 0.86
"""Default ``lm.fastdetect`` cut for the default model, set by the shipped classifier's rule (``lodo_worst``): the
strictest of the per-domain cuts that remove 1% of each domain's English human texts the classifier trains on
(3,000 sampled, each distinct text once; xsum's 0.8552 rounded up, 95% interval over articles 0.52-1.52), never test
rows (benchmarks/results/lm_default.md). Held out one domain at a time, the rule set on the other three domains
loses at most 2.4% (xsum), where one pooled 1% cut (0.50) lost 4.4%. The column is the transfer benchmark's choice
(benchmarks/results/transfer.md): the one whose 1% threshold drifted least on held-out domains and models.
Re-calibrate it on human text of your own corpus (``filterkit calibrate``)."""
# Anything a reader would see; text without it (blank, control or zero-width characters) is "empty".
_VISIBLE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]")
# A token almost never spans more characters than this, so a prefix cut this long keeps the whole window.
_MAX_CHARS_PER_TOKEN = 32
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MAX_TOKENS_PER_CHAR = 0.30
"""Tokens per character above which the default model cannot judge a text. On the transfer set (whitespace-
collapsed) 0.24% of English human and 0.14% of English machine texts lie above it, and all 400 non-English human
texts (de, es, fr, ja, pt) do (benchmarks/results/lm_unjudgeable.md)."""
_PROBE = "The quick brown fox jumps over the lazy dog, and then it runs away."


@dataclass
class _Window:
    doc: int
    ids: list[int]
    first: int
    """Index, within ``ids``, of the first target token this window scores (earlier ones gave context only)."""


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    observer: Any | None
    device: torch.device
    split_head: bool
    """True when hidden states times the output embedding give the model's logits, so only scored positions
    ever become vocabulary-sized rows; False falls back to the full logits of each batch."""
    hidden_layers: tuple[int, ...] = ()
    """Layers (indices into the model's hidden states, 0 = embeddings, -1 = last) whose states are pooled."""
    lead: tuple[int, ...] = ()
    """The special tokens the tokenizer puts before a text (``_lead``), at the start of every window."""


@dataclass
class LMDetector(RowDetector):
    """Scores each document under a causal LM (``model``: a directory, a cached hub id, a GGUF file or
    ``"default"`` = SmolLM2-135M-Instruct) in one forward pass.

    Documents longer than ``max_tokens`` are scored over their first window (``long_documents="prefix"``) or in
    windows moved by ``stride`` tokens, each token scored once with at least ``max_tokens - stride`` tokens of
    context (``"strided"``). Documents with fewer than ``min_tokens`` scored tokens get NaN scores, their
    ``lm.ntokens`` and the reason ``too_short``, so that rules abstain on them.
    """

    name = "lm"
    reports_progress = True
    scores = (
        Column("loglik", doc="mean log-likelihood of the scored tokens"),
        Column("perplexity"),
        Column("logrank", doc="mean log-rank of the scored tokens"),
        Column("entropy", doc="mean entropy of the predicted distributions"),
        Column("fastdetect", doc="Fast-DetectGPT analytic discrepancy (higher = more machine-like)"),
        Column("ntokens", doc="scored tokens (never NaN)"),
        Column("gltr_top1"), Column("gltr_top10"), Column("gltr_top100"), Column("gltr_top1000"),
        Column("binoculars", when="observer", doc="Binoculars ratio (lower = more machine-like)"),
        Column("ppl_bucket", when="perplexity_cutoffs", doc="how many perplexity cutoffs are <= the perplexity"),
        Column("tokens_per_char", doc="tokens per character of the text encoded; NaN for an empty text"),
        Column("hidden", pa.list_(pa.float16()), when="hidden_layers",
               doc="hidden states of hidden_layers, mean-pooled over the scored tokens, side by side"),
        Column("reason", pa.string(), reason=True,
               doc="empty, too_short or unjudgeable (scores NaN); prefix or strided (a long document)"),
    )
    model: str = "default"
    observer: str | None = None
    """A second causal LM with the same tokenizer; adds ``lm.binoculars`` (lower = more machine-like)."""
    max_tokens: int = 512
    long_documents: str = "prefix"
    stride: int = 256
    batch_size: int = 16
    min_tokens: int = 16
    quantize: str = "none"
    device: str = "auto"
    """``auto`` (CUDA when torch sees a GPU, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``; a GPU this machine lacks
    is refused by ``setup``."""
    dtype: str = "auto"
    threads: int = 0
    """Torch CPU threads; 0 means every core this process may run on."""
    perplexity_cutoffs: list[float] | None = None
    """Ascending perplexity cut points (CCNet buckets); adds ``lm.ppl_bucket`` = how many of them are <= ppl."""
    hidden_layers: list[int] | None = None
    """Layers whose hidden states, mean-pooled over the scored tokens of the same forward pass, go into
    ``lm.hidden`` (float16, the layers side by side) for the stacked head; None writes no states."""
    max_tokens_per_char: float | str | None = "auto"
    """Above this many tokens per character the text is one the model cannot judge (another language or script,
    code, noise): its scores are NaN with the reason ``unjudgeable``, so rules abstain. ``auto``: the cutoff
    measured for the default model's tokenizer (``MAX_TOKENS_PER_CHAR``), off for any other model (measure
    ``lm.tokens_per_char`` on English human text of yours); None: off."""
    model_ref_: ModelRef | None = field(default=None, init=False, repr=False, compare=False)
    observer_ref_: ModelRef | None = field(default=None, init=False, repr=False, compare=False)
    tokenizers_: tuple[Any, Any | None] | None = field(default=None, init=False, repr=False, compare=False)
    """The model's and the observer's tokenizers, once loaded (by ``setup`` with an observer, else on first use)."""
    state_: _Loaded | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for what, spec in (("model", self.model), ("observer", self.observer)):
            if (what == "model" or spec is not None) and (not isinstance(spec, str) or not spec.strip()):
                raise ModelError(f"{what} must be a path, a hub id or {DEFAULT_MODEL!r}, got {spec!r}")
        if self.long_documents not in ("prefix", "strided"):
            raise ValueError(f"lm: long_documents must be 'prefix' or 'strided', got {self.long_documents!r}")
        if self.max_tokens < 2 or self.stride < 1:
            raise ValueError(f"lm: need max_tokens >= 2 and stride >= 1, got {self.max_tokens}, {self.stride}")
        if self.long_documents == "strided" and self.stride >= self.max_tokens:
            raise ValueError(f"lm: strided windows need stride < max_tokens, got {self.stride} >= {self.max_tokens}")
        if self.batch_size < 1 or self.min_tokens < 0 or self.threads < 0:
            raise ValueError("lm: batch_size must be >= 1, min_tokens and threads >= 0")
        if self.quantize not in ("none", "int8"):
            raise ValueError(f"lm: quantize must be 'none' or 'int8', got {self.quantize!r}")
        check_device(self.device, "lm")
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ValueError(f"lm: dtype must be auto or one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if not (self.max_tokens_per_char in ("auto", None) or isinstance(self.max_tokens_per_char, (int, float))):
            raise ValueError(f"lm: max_tokens_per_char must be a number, auto or null, "
                             f"got {self.max_tokens_per_char!r}")
        cutoffs = self.perplexity_cutoffs
        if cutoffs is not None and (not cutoffs or list(cutoffs) != sorted(cutoffs)):
            raise ValueError(f"lm: perplexity_cutoffs must be a non-empty ascending list, got {cutoffs!r}")

    def setup(self) -> None:
        """Resolve the model (and observer) and the device; with an observer, check that it shares the tokenizer.

        Raises ``ModelError`` for a model that does not exist or is not a causal LM, or an observer with another
        tokenizer, and ValueError for a device this machine lacks. The weights load on first ``score``.
        """
        self._refs()
        self._device()
        if self.observer is not None:
            self._tokenizers()  # a mismatch needs only the tokenizers to show, not the weights

    @property
    def tokens_per_char_cutoff(self) -> float | None:
        """The ``max_tokens_per_char`` in force (``auto`` resolved)."""
        if self.max_tokens_per_char == "auto":
            return MAX_TOKENS_PER_CHAR if self.model == DEFAULT_MODEL else None
        return None if self.max_tokens_per_char is None else float(self.max_tokens_per_char)

    def default_rules(self) -> list[Rule]:
        """Remove texts the model finds far more predictable than its own samples (re-calibrate on your data)."""
        return [Rule(f"{self.name}.fastdetect", ">=", FASTDETECT_THRESHOLD, reason="lm_fastdetect")]

    def score(self, batch: pa.Table, progress: RowsDone | None = None) -> pa.Table:
        """Score every row of ``batch``; see the class docstring for long, short and empty documents.

        ``progress``, if given, hears how many documents are done after each group of ``batch_size`` windows (a
        document with nothing to score counts as done from the start; a strided one once its last window is)."""
        state = self._state()
        texts = batch[TEXT].to_pylist()
        n = len(texts)
        reasons: list[str | None] = [None] * n
        live = [i for i, t in enumerate(texts) if t and _VISIBLE.search(t)]
        for i in set(range(n)) - set(live):
            reasons[i] = "empty"
        per_char = np.full(n, np.nan)
        windows = self._windows(state.tokenizer, list(state.lead), texts, live, reasons, per_char)
        sums = new_sums(n)
        if state.hidden_layers:
            width = len(state.hidden_layers) * int(state.model.config.hidden_size)
            sums["hidden"] = torch.zeros((n, width), dtype=torch.float64)
        left = Counter(w.doc for w in windows)  # windows still to score, per document
        done = n - len(left)
        with torch.inference_mode(), torch_threads(self._threads(state.device)):
            for group in _batches(windows, self.batch_size):
                self._run_retrying(state, group, sums)
                if progress is not None:
                    left.subtract(w.doc for w in group)
                    done += sum(1 for d in {w.doc for w in group} if not left[d])
                    progress(done)
        hidden = sums.pop("hidden", None)
        cols = scores_from_sums({k: v.numpy() for k, v in sums.items()}, observer=state.observer is not None)
        short = (cols["ntokens"] < max(self.min_tokens, 1)) & np.array([r != "empty" for r in reasons], dtype=bool)
        for i in np.flatnonzero(short):
            reasons[i] = "too_short"
        cols["tokens_per_char"] = per_char
        cutoff = self.tokens_per_char_cutoff
        unjudgeable = ~short & (per_char > cutoff) if cutoff is not None else np.zeros(n, dtype=bool)
        for i in np.flatnonzero(unjudgeable):
            reasons[i] = "unjudgeable"
        for key, values in cols.items():
            if key not in ("ntokens", "tokens_per_char"):
                values[short | unjudgeable] = np.nan
        if self.perplexity_cutoffs is not None:
            ppl = cols["perplexity"]
            cols["ppl_bucket"] = np.where(np.isnan(ppl), np.nan, np.searchsorted(self.perplexity_cutoffs, ppl,
                                                                                  side="right").astype(np.float64))
        prefix = f"{self.name}."
        out = {f.name: pa.array(cols[f.name.removeprefix(prefix)], pa.float64()) for f in self.schema
               if f.type == pa.float64()}
        if hidden is not None:
            count = sums["n"].numpy()[:, None]
            judged = (count > 0) & ~(short | unjudgeable)[:, None]
            pooled = np.where(judged, hidden.numpy() / np.maximum(count, 1), np.nan)
            out[f"{self.name}.hidden"] = pa.FixedSizeListArray.from_arrays(
                pa.array(pooled.astype(np.float16).ravel()), pooled.shape[1])
        out[f"{self.name}.reason"] = pa.array(reasons, pa.string())
        return pa.table(out)

    def _windows(self, tokenizer: Any, lead: list[int], texts: list[str], live: list[int], reasons: list[str | None],
                 per_char: np.ndarray) -> list[_Window]:
        """Token windows to score, each starting with ``lead``, the reason ``prefix``/``strided`` for documents longer
        than one window, and each live document's tokens per character (of the text it encoded) in ``per_char``."""
        prefix = self.long_documents == "prefix"
        budget = self.max_tokens * _MAX_CHARS_PER_TOKEN
        cut = [texts[i][:budget] if prefix else texts[i] for i in live]
        ids = _encode(tokenizer, cut)
        width = max(1, self.max_tokens - len(lead))  # text tokens per window, beside the lead
        chars = [len(c) for c in cut]
        for k, i in enumerate(live):
            if prefix and len(texts[i]) > budget and len(ids[k]) <= width:
                ids[k] = _encode(tokenizer, [texts[i]])[0]  # the cut fell inside the window after all
                chars[k] = len(texts[i])
        out: list[_Window] = []
        for k, i in enumerate(live):
            doc = ids[k]
            per_char[i] = len(doc) / max(1, chars[k])
            if len(lead) + len(doc) < 2:
                continue  # nothing to predict: no scored token, reason too_short
            if len(doc) <= width:
                out.append(_Window(i, lead + doc, 1))
                continue
            reasons[i] = self.long_documents
            if prefix:
                out.append(_Window(i, lead + doc[:width], 1))
                continue
            # Window positions are the lead's plus the text's; the first window scores from position 1.
            start, first = 0, max(0, 1 - len(lead))
            while True:
                end = min(start + width, len(doc))
                out.append(_Window(i, lead + doc[start:end], len(lead) + first - start))
                if end == len(doc):
                    break
                first, start = end, start + min(self.stride, width)
        return out

    def _run_retrying(self, state: _Loaded, group: list[_Window], sums: dict[str, torch.Tensor]) -> None:
        """Score a group of windows; on out-of-memory, halve it, down to one window at a time."""
        try:
            _score_windows(state, group, sums)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc) or len(group) == 1:
                raise
            log.warning("lm: out of memory on a batch of %d windows; retrying in halves", len(group))
            if state.device.type == "cuda":
                torch.cuda.empty_cache()
            half = len(group) // 2
            self._run_retrying(state, group[:half], sums)
            self._run_retrying(state, group[half:], sums)

    def _state(self) -> _Loaded:
        if self.state_ is None:
            self.state_ = self._load()
        return self.state_

    def _refs(self) -> tuple[ModelRef, ModelRef | None]:
        """The resolved model and observer, resolved once per instance (by ``setup`` or the first load)."""
        if self.model_ref_ is None:
            self.model_ref_ = resolve_model(self.model)
        if self.observer is not None and self.observer_ref_ is None:
            self.observer_ref_ = resolve_model(self.observer)
        return self.model_ref_, self.observer_ref_

    def _device(self) -> torch.device:
        """The device scoring runs on; refuses one this machine lacks, and int8 anywhere but the CPU."""
        device = torch.device(resolve_device(self.device, "lm"))
        if self.quantize == "int8" and device.type != "cpu":
            raise ValueError("lm: int8 dynamic quantisation runs on the CPU only; use dtype=bfloat16 on a GPU")
        return device

    def _tokenizers(self) -> tuple[Any, Any | None]:
        """The model's and the observer's tokenizers, loaded once; refuses an observer that tokenizes otherwise."""
        if self.tokenizers_ is None:
            ref, obs_ref = self._refs()
            tokenizer, obs_tokenizer = load_tokenizer(ref), None
            if obs_ref is not None:
                obs_tokenizer = load_tokenizer(obs_ref)
                vocab = (ref.vocab_size, obs_ref.vocab_size)
                if _encode(obs_tokenizer, [_PROBE]) != _encode(tokenizer, [_PROBE]) or \
                        (None not in vocab and vocab[0] != vocab[1]):
                    raise ModelError(f"lm: observer {self.observer!r} does not share the tokenizer of {self.model!r}")
            self.tokenizers_ = (tokenizer, obs_tokenizer)
        return self.tokenizers_

    def _threads(self, device: torch.device) -> int:
        """Torch threads for scoring on ``device`` (every core this process may use, unless set)."""
        return (self.threads or len(os.sched_getaffinity(0))) if device.type == "cpu" else 0

    def _load(self) -> _Loaded:
        ref, obs_ref = self._refs()
        device = self._device()
        dtype = _DTYPES.get(self.dtype) or (
            torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32)
        tokenizer, obs_tokenizer = self._tokenizers()
        model, tokenizer = load_causal_lm(ref, dtype=dtype, device=str(device), tokenizer=tokenizer)
        observer = None
        if obs_ref is not None:
            observer, _ = load_causal_lm(obs_ref, dtype=dtype, device=str(device), tokenizer=obs_tokenizer)
            # Catches what _tokenizers could not: a configuration that gave no vocab_size before loading.
            if observer.config.vocab_size != model.config.vocab_size:
                raise ModelError(f"lm: observer {self.observer!r} does not share the tokenizer of {self.model!r}")
        if self.quantize == "int8":
            model = quantize_int8(model)
            observer = quantize_int8(observer) if observer is not None else None
        probe = torch.tensor([_encode(tokenizer, [_PROBE])[0]], device=device)
        split = _head_matches(model, probe) and (observer is None or _head_matches(observer, probe))
        log.info("lm: %s on %s (%s, %d threads, split head: %s)", self.model, device, dtype,
                 self._threads(device), split)
        layers = tuple(self.hidden_layers or ())
        depth = int(model.config.num_hidden_layers)
        if any(not -depth - 1 <= k <= depth for k in layers):
            raise ValueError(f"lm: hidden_layers must lie in [{-depth - 1}, {depth}] for {self.model!r}, got {layers}")
        return _Loaded(model, tokenizer, observer, device, split, layers, tuple(_lead(tokenizer)))


def _encode(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []  # fast tokenizers fail on an empty batch
    return tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]


def _lead(tokenizer: Any) -> list[int]:
    """The special tokens the tokenizer puts before a text (Gemma's and Llama's BOS, without which their scores are
    noise; none for SmolLM2); every window starts with them, as context only."""
    plain = _encode(tokenizer, [_PROBE])[0]
    full = list(tokenizer(_PROBE, return_attention_mask=False)["input_ids"])
    start = next((k for k in range(len(full) - len(plain) + 1) if full[k: k + len(plain)] == plain), 0)
    return full[:start]


def _batches(windows: list[_Window], size: int) -> list[list[_Window]]:
    """Groups of ``size`` windows of similar length, longest first, so that padding stays small."""
    ordered = sorted(windows, key=lambda w: -len(w.ids))
    return [ordered[i: i + size] for i in range(0, len(ordered), size)]


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc) or \
        "out of memory" in str(exc).lower()


def _head_matches(model: Any, ids: torch.Tensor) -> bool:
    """Whether base model + output embedding reproduce the logits (no soft-capping, scaling or odd heads)."""
    head, base = model.get_output_embeddings(), model.base_model
    if head is None or base is model:
        return False
    with torch.inference_mode():
        full = model(input_ids=ids, use_cache=False).logits.float()
        try:
            split = head(base(input_ids=ids, use_cache=False).last_hidden_state).float()
        except (AttributeError, TypeError, RuntimeError):
            return False
    return split.shape == full.shape and bool(torch.allclose(split, full, rtol=1e-3, atol=1e-3))


def _score_windows(state: _Loaded, group: list[_Window], sums: dict[str, torch.Tensor]) -> None:
    """One forward pass over a padded batch; statistics only at scored positions, a chunk of rows at a time."""
    length = max(len(w.ids) for w in group)
    ids = torch.full((len(group), length), state.tokenizer.pad_token_id, dtype=torch.long)
    scored = torch.zeros((len(group), length - 1), dtype=torch.bool)  # position j predicts token j + 1
    for r, w in enumerate(group):
        ids[r, : len(w.ids)] = torch.tensor(w.ids)
        scored[r, w.first - 1: len(w.ids) - 1] = True
    docs = torch.tensor([w.doc for w in group])[:, None].expand_as(scored)[scored]
    targets = ids[:, 1:][scored]
    ids = ids.to(state.device)
    # Right padding never changes earlier positions under causal attention; a full batch needs no mask at all.
    mask = None if all(len(w.ids) == length for w in group) else (
        torch.arange(length)[None, :] < torch.tensor([len(w.ids) for w in group])[:, None]).to(state.device)
    where = scored.to(state.device)
    rows, states = _rows(state, state.model, ids, mask, where, state.hidden_layers)
    obs_rows = None
    if state.observer is not None:
        obs_rows, _ = _rows(state, state.observer, ids, mask, where)
    if states is not None:
        sums["hidden"].index_add_(0, docs, states.to(torch.float64).cpu())
    head = state.model.get_output_embeddings() if state.split_head else None
    obs_head = state.observer.get_output_embeddings() if state.split_head and state.observer is not None else None
    chunk = max(1, (1 << 23) // int(state.model.config.vocab_size))
    targets = targets.to(state.device)
    for lo in range(0, targets.shape[0], chunk):
        part = slice(lo, lo + chunk)
        logits = head(rows[part]) if head is not None else rows[part]
        obs_logits = None
        if obs_rows is not None:
            obs_logits = obs_head(obs_rows[part]) if obs_head is not None else obs_rows[part]
        stats = position_stats(logits, targets[part], obs_logits)
        add_to_sums(sums, docs[part], {k: v.cpu() for k, v in stats.items()})


def _rows(state: _Loaded, model: Any, ids: torch.Tensor, mask: torch.Tensor | None, where: torch.Tensor,
          layers: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states (split head) or logits (fallback) at the scored positions, one row per scored token, and the
    states of ``layers`` side by side at the same positions (None without layers), from the same forward pass."""
    want = bool(layers)
    if state.split_head:
        out = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=want)
        rows = out.last_hidden_state
    else:
        out = model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=want)
        rows = out.logits
    states = torch.cat([out.hidden_states[k][:, :-1][where] for k in layers], dim=-1) if want else None
    return rows[:, :-1][where], states
