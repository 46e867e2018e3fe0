"""Training, sampling and scoring a torch causal LM on documents: shared by the from-scratch transformer learner
and the pretrained (``hf``) learner, which differ only in where the model and tokenizer come from.

Decoding (``decoding``): ``sample`` draws each document from the start token (temperature 1 by default);
``prefix`` prompts with the first ``prefix_tokens`` tokens of a random human training document and samples a
continuation (Drayson et al.); ``beam`` prompts the same way and continues by beam search with a CTRL-style
repetition penalty (Shumailov et al. with OPT-125m). A prompted document is prompt + continuation, so its
length matches a human one."""
from __future__ import annotations

import inspect
import logging
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.collapse.data.text import words
from benchmarks.collapse.learners.bands import BANDS, band_metrics, frequency_bands
from benchmarks.collapse.learners.base import Family
from detectors.lm.models import torch_threads

log = logging.getLogger(__name__)

DECODINGS = ("sample", "prefix", "beam")
SCHEDULES = ("constant", "cosine")
DTYPES = ("float32", "bfloat16", "float16")
PRECISIONS = ("autocast", "weights")


@dataclass(frozen=True)
class Codec:
    """How documents become token ids and back, and the special ids the model uses."""

    encode: Callable[[list[str]], list[list[int]]]
    decode: Callable[[list[list[int]]], list[str]]
    bos: int
    eos: int
    pad: int


@dataclass
class HumanPool:
    """The human training pool a family was prepared on: prompts for decoding, token frequencies for the bands.
    One pool is shared by every learner of a family, so the pool is tokenised once."""

    docs: list[str]
    _bands: dict[Hashable, int] | None = field(default=None, init=False, repr=False)

    def token_bands(self, codec: Codec) -> dict[Hashable, int]:
        """Band of each token id seen in the pool (end token included, once per document), counted once."""
        if self._bands is None:
            counts: Counter = Counter({codec.eos: len(self.docs)})
            for lo in range(0, len(self.docs), 1000):
                for ids in codec.encode(self.docs[lo:lo + 1000]):
                    counts.update(ids)
            self._bands = frequency_bands(counts)
        return self._bands


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and length settings."""

    block: int = 256
    """Longest sequence, in tokens, for training, scoring and sampling."""
    batch_size: int = 16
    epochs: float = 3.0
    lr: float = 1e-3
    weight_decay: float = 0.01
    device: str = "cpu"
    threads: int = 0
    """CPU threads for torch (0: torch's default); 1 is much faster on a machine other jobs keep busy."""
    steps: int = 0
    """Optimizer steps; 0: as many as ``epochs`` passes over the documents take."""
    schedule: str = "constant"
    """``constant`` learning rate, or ``cosine``: linear warmup over ``warmup`` of the steps, cosine decay to 0."""
    warmup: float = 0.05
    dtype: str = "float32"
    """Floating-point precision of training, sampling and scoring (see ``precision``)."""
    precision: str = "autocast"
    """``autocast``: float32 weights and optimizer, matrix products in ``dtype`` (mixed precision); ``weights``:
    the weights, gradients and optimizer state themselves stored in ``dtype``, so updates below its resolution
    are lost."""


@dataclass(frozen=True)
class Decoding:
    """How ``sample`` generates documents (see the module docstring)."""

    mode: str = "sample"
    prefix_tokens: int = 16
    num_beams: int = 5
    repetition_penalty: float = 1.2
    """Beam search only: CTRL-style, on every token already in the document (prompt included); 1: none."""
    temperature: float = 1.0
    """Sampling only (``sample``, ``prefix``), as are ``top_k`` (0: off) and ``top_p`` (1: off)."""
    top_k: int = 0
    top_p: float = 1.0


@dataclass
class CausalLMFamily(Family):
    """Parameters every torch causal-LM family shares: optimisation, decoding and warm start."""

    block: int = 256
    batch_size: int = 16
    epochs: float = 3.0
    steps: int = 0
    """Fixed optimizer steps (0: ``epochs`` decides), e.g. to train a bigger model to convergence."""
    lr: float = 1e-3
    schedule: str = "constant"
    warmup: float = 0.05
    """Share of the steps for linear warmup when ``schedule`` is ``cosine``."""
    device: str = "cpu"
    threads: int = 0
    """torch CPU threads (0: torch's default)."""
    decoding: str = "sample"
    prefix_tokens: int = 16
    num_beams: int = 5
    repetition_penalty: float = 1.2
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    warm_start: bool = False
    """Start generation t from generation t-1's trained weights, when the loop calls ``init_from``."""
    dtype: str = "float32"
    """float32, bfloat16 or float16 (Shumailov et al.'s third error source: finite precision)."""
    precision: str = "autocast"
    """``autocast`` (mixed precision) or ``weights`` (everything stored in ``dtype``); see ``TrainSettings``."""
    _pool: HumanPool | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.decoding not in DECODINGS or self.schedule not in SCHEDULES:
            raise ValueError(f"decoding must be one of {DECODINGS} and schedule one of {SCHEDULES}")
        if min(self.prefix_tokens, self.num_beams, self.block - 2) < 1 or self.steps < 0 or self.top_k < 0:
            raise ValueError("need prefix_tokens, num_beams >= 1, block >= 3, steps >= 0 and top_k >= 0")
        if not (self.temperature > 0 and 0 < self.top_p <= 1 and self.repetition_penalty > 0
                and 0 <= self.warmup < 1):
            raise ValueError("need temperature > 0, 0 < top_p <= 1, repetition_penalty > 0, 0 <= warmup < 1")
        if self.dtype not in DTYPES or self.precision not in PRECISIONS:
            raise ValueError(f"dtype must be one of {DTYPES} and precision one of {PRECISIONS}, "
                             f"got {self.dtype!r} and {self.precision!r}")

    def prepare(self, human_train: np.ndarray) -> None:
        """Keep the human training pool: prompts for ``prefix``/``beam`` and token frequencies for the bands."""
        self._pool = HumanPool([str(d) for d in human_train])

    def learner(self, load: Callable[[], tuple[Any, Codec]], seed: int) -> CausalLMLearner:
        """A learner with this family's settings around the model ``load`` makes."""
        settings = TrainSettings(self.block, self.batch_size, self.epochs, self.lr, device=self.device,
                                 threads=self.threads, steps=self.steps, schedule=self.schedule, warmup=self.warmup,
                                 dtype=self.dtype, precision=self.precision)
        decoding = Decoding(self.decoding, self.prefix_tokens, self.num_beams, self.repetition_penalty,
                            self.temperature, self.top_k, self.top_p)
        return CausalLMLearner(load, settings, seed, decoding, self._pool, self.warm_start)


def cache_keyword(model: Any) -> str:
    """The name ``model.forward`` takes its key-value cache under: ``cache`` from transformers 5.x (which drops the
    old ``past_key_values`` in 5.40), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@dataclass
class CausalLMLearner:
    """A learner around a torch causal LM; ``load`` makes the starting model (random init or pretrained) and is
    called under a torch generator seeded with ``seed``."""

    load: Callable[[], tuple[Any, Codec]]
    settings: TrainSettings
    seed: int
    decoding: Decoding = field(default_factory=Decoding)
    pool: HumanPool | None = None
    warm_start: bool = False
    _model: Any = field(default=None, init=False, repr=False)
    _codec: Codec | None = field(default=None, init=False, repr=False)
    _warm: bool = field(default=False, init=False, repr=False)

    def _sequences(self, docs: list[str]) -> list[list[int]]:
        codec = self._codec
        assert codec is not None
        limit = self.settings.block - 2
        return [[codec.bos] + ids[:limit] + [codec.eos] for ids in codec.encode(docs)]

    def _batch(self, seqs: list[list[int]]) -> tuple[Any, Any, Any]:
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._codec.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        dev = self.settings.device
        return ids.to(dev), mask.to(dev), labels.to(dev)

    @contextmanager
    def _seeded(self) -> Iterator[None]:
        # Initialisation and dropout draw from torch's global generator: seed a fork of it, leave the caller's be.
        import torch

        devices = [] if self.settings.device == "cpu" else None
        with torch_threads(self.settings.threads), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed % 2**63)
            yield

    def init_from(self, previous: CausalLMLearner) -> bool:
        """With ``warm_start``, load the starting model now and copy ``previous``'s trained weights into it, so
        ``fit`` continues from them; without it, do nothing. True when the weights were copied."""
        if not self.warm_start:
            return False
        if previous._model is None:
            raise RuntimeError("init_from needs a previous learner that has been fitted")
        with self._seeded():
            self._model, self._codec = self._load()
        self._model.load_state_dict(previous._model.state_dict())
        self._warm = True
        return True

    def _load(self) -> tuple[Any, Codec]:
        import torch

        model, codec = self.load()
        if self.settings.precision == "weights" and self.settings.dtype != "float32":
            model = model.to(getattr(torch, self.settings.dtype))
        return model, codec

    def _autocast(self) -> Any:
        """Mixed precision around forward passes; a no-op at float32 or when the weights carry the dtype."""
        import torch

        s = self.settings
        if s.dtype == "float32" or s.precision == "weights":
            return nullcontext()
        return torch.autocast(device_type=torch.device(s.device).type, dtype=getattr(torch, s.dtype))

    def save_state(self, directory: Path) -> None:
        """Write the trained weights (safetensors) for a checkpoint."""
        from safetensors.torch import save_model

        directory.mkdir(parents=True, exist_ok=True)
        save_model(self._model, str(directory / "model.safetensors"))  # handles tied embeddings

    def load_state(self, directory: Path) -> None:
        """Load the starting model and put the checkpointed weights in it: the learner as it was after ``fit``."""
        from safetensors.torch import load_model

        with self._seeded():
            self._model, self._codec = self._load()
        load_model(self._model, str(directory / "model.safetensors"))
        self._model.to(self.settings.device).eval()

    def fit(self, data: np.ndarray) -> None:
        """Load the starting model (unless ``init_from`` did) and train it over the documents (AdamW, seeded)."""
        with self._seeded():
            self._fit(data)

    def _fit(self, data: np.ndarray) -> None:
        import torch

        if not self._warm:
            self._model, self._codec = self._load()
        seqs = [s for s in self._sequences([str(d) for d in data]) if len(s) > 2]
        if not seqs:
            raise ValueError("no non-empty documents to train on")
        model, s = self._model, self.settings
        model.to(s.device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        order_rng = np.random.default_rng(self.seed)
        steps = s.steps or max(1, math.ceil(s.epochs * len(seqs) / s.batch_size))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(steps, s.warmup)) if s.schedule == "cosine" else None
        # float16 gradients underflow without loss scaling; the scaler is a pass-through otherwise.
        scaler = torch.amp.GradScaler(torch.device(s.device).type,
                                      enabled=s.dtype == "float16" and s.precision == "autocast")
        order: list[int] = []
        for step in range(steps):
            if len(order) < s.batch_size:
                order += order_rng.permutation(len(seqs)).tolist()
            batch, order = order[:s.batch_size], order[s.batch_size:]
            ids, mask, labels = self._batch([seqs[i] for i in batch])
            with self._autocast():
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            if step % 50 == 0 and log.isEnabledFor(logging.DEBUG):
                log.debug("step %d/%d loss %.3f", step, steps, float(loss.detach()))
        model.eval()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` documents generated as ``decoding`` says; prompts, when used, are drawn with ``rng``."""
        import torch

        codec, s = self._codec, self.settings
        gen = torch.Generator(device=s.device).manual_seed(int(rng.integers(2**62)))
        prompts = self._prompts(n, rng)
        beam = self.decoding.mode == "beam"
        chunk = max(1, s.batch_size * 4 // self.decoding.num_beams) if beam else s.batch_size * 4
        rows: list[list[int]] = [[] for _ in range(n)]
        # Rows of one batch share a prompt length, so no padding or mask is needed (one group when unprompted).
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            groups.setdefault(len(p), []).append(i)
        with torch_threads(self.settings.threads):
            for length in sorted(groups):
                idx = groups[length]
                for lo in range(0, len(idx), chunk):
                    part = idx[lo:lo + chunk]
                    start = torch.tensor([[codec.bos] + prompts[i] for i in part], device=s.device)
                    cont = self._beam_batch(start) if beam else self._sample_batch(start, gen)
                    for i, r in zip(part, cont, strict=True):
                        rows[i] = prompts[i] + (r[:r.index(codec.eos)] if codec.eos in r else r)
        return np.array([t.strip() for t in codec.decode(rows)], dtype=object)

    def _prompts(self, n: int, rng: np.random.Generator) -> list[list[int]]:
        if self.decoding.mode == "sample":
            return [[] for _ in range(n)]
        if self.pool is None or not self.pool.docs:
            raise RuntimeError(f"decoding {self.decoding.mode!r} needs the human pool: call the family's prepare()")
        docs = [self.pool.docs[i] for i in rng.integers(len(self.pool.docs), size=n)]
        keep = min(self.decoding.prefix_tokens, self.settings.block - 3)  # leave room to generate a token
        return [ids[:keep] for ids in self._codec.encode(docs)]

    def _sample_batch(self, start: Any, gen: Any) -> list[list[int]]:
        # A plain cached loop: a third of what transformers' generate() costs for a model this small.
        import torch

        codec, s = self._codec, self.settings
        ids, done = start, torch.zeros(start.shape[0], dtype=torch.bool, device=s.device)
        steps, past, key = [], None, cache_keyword(self._model)
        with torch.inference_mode():
            for _ in range(s.block - 1 - start.shape[1]):
                with self._autocast():
                    o = self._model(input_ids=ids, use_cache=True, **{key: past})
                past = getattr(o, key)
                ids = torch.multinomial(torch.softmax(self._shape(o.logits[:, -1].float()), dim=-1), 1,
                                        generator=gen)
                steps.append(ids)
                done |= ids[:, 0] == codec.eos
                if bool(done.all()):
                    break
        return torch.cat(steps, dim=1).tolist()

    def _shape(self, logits: Any) -> Any:
        # Untouched at the defaults, so plain sampling draws exactly what it always did.
        import torch

        d = self.decoding
        if d.temperature != 1.0:
            logits = logits / d.temperature
        if d.top_k and d.top_k < logits.shape[-1]:
            logits = logits.masked_fill(logits < torch.topk(logits, d.top_k).values[:, -1:], -math.inf)
        if d.top_p < 1.0:
            sorted_, order = torch.sort(logits, descending=True)
            probs = torch.softmax(sorted_, dim=-1)
            drop = torch.cumsum(probs, dim=-1) - probs > d.top_p  # keeps at least the most likely token
            logits = logits.scatter(-1, order, sorted_.masked_fill(drop, -math.inf))
        return logits

    def _beam_batch(self, start: Any) -> list[list[int]]:
        import torch
        from transformers import GenerationConfig

        codec, d = self._codec, self.decoding
        config = GenerationConfig(do_sample=False, num_beams=d.num_beams, repetition_penalty=d.repetition_penalty,
                                  max_new_tokens=self.settings.block - 1 - start.shape[1], bos_token_id=codec.bos,
                                  eos_token_id=codec.eos, pad_token_id=codec.pad)
        with torch.inference_mode(), self._autocast():
            out = self._model.generate(input_ids=start, attention_mask=torch.ones_like(start),
                                       generation_config=config)
        return out[:, start.shape[1]:].tolist()

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """``test_ce``: mean NLL per token of the test documents (end token included); with a human pool, also
        the NLL and share of test tokens per frequency band of the pool (``nll_head``, ``band_share_tail``...)."""
        import torch

        seqs = self._sequences([str(d) for d in human_test])
        bands = self._band_table()
        nll, count = 0.0, 0
        band_nll, band_count = [0.0] * len(BANDS), [0] * len(BANDS)
        with torch_threads(self.settings.threads), torch.inference_mode():
            for lo in range(0, len(seqs), self.settings.batch_size * 2):
                ids, mask, labels = self._batch(seqs[lo:lo + self.settings.batch_size * 2])
                with self._autocast():
                    logits = self._model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                target = labels[:, 1:]
                logp = torch.log_softmax(logits, dim=-1)
                valid = target != -100
                picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                nll -= float(picked[valid].sum())
                count += int(valid.sum())
                if bands is not None:
                    band = bands[target.clamp(min=0)]
                    for k in range(len(BANDS)):
                        sel = valid & (band == k)
                        band_nll[k] -= float(picked[sel].double().sum())
                        band_count[k] += int(sel.sum())
        # Words of the text each (possibly truncated) sequence covers: NLL per word compares subword models with
        # the word n-gram on one footing.
        covered = sum(len(words(t)) for t in self._codec.decode([q[1:-1] for q in seqs]))
        out = {"test_ce": nll / max(count, 1), "nll_per_word": nll / max(covered, 1)}
        return out | band_metrics(band_nll, band_count) if bands is not None else out

    def _band_table(self) -> Any:
        """Band of every token id of the model's vocabulary (unseen in the pool: tail), or None without a pool."""
        import torch

        if self.pool is None:
            return None
        size = self._model.get_output_embeddings().weight.shape[0]
        table = torch.full((size,), len(BANDS) - 1, dtype=torch.long)
        for tok, band in self.pool.token_bands(self._codec).items():
            if tok < size:
                table[tok] = band
        return table.to(self.settings.device)


def _cosine(steps: int, warmup: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warmup over ``warmup`` of ``steps``, then cosine decay to 0."""
    warm = max(1, round(warmup * steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

    return factor
