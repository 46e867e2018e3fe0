"""Typed run configuration, loaded from YAML or TOML."""
from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from filterkit.io.storage import OUTPUT_FORMATS
from filterkit.stage.rules import Combine, FilterStage, Mode, Rule, WeightSpec

T = TypeVar("T")


@dataclass(frozen=True)
class DetectorSpec:
    """A detector by registry name, with the parameters for its constructor."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """A stable string that identifies this detector and its parameters."""
        return json.dumps({"name": self.name, "params": self.params}, sort_keys=True, default=str)


@dataclass(frozen=True)
class MixtureSpec:
    """Estimate the crawl's machine-written share from ``column`` against trusted human text (``stage.mixture``)."""

    column: str
    reference: str
    """Trusted human rows already scored with ``column``: a Parquet file or a ``filterkit score`` output."""
    machine_high: bool = True
    """Whether higher values of ``column`` mean more machine-like."""


SHARD_SHARE = 0.25
"""Share of a worker's memory budget one shard's uncompressed bytes may take."""


@dataclass(frozen=True)
class FilterConfig:
    """Everything that decides a run's outputs; two runs with equal configs and inputs write the same bytes."""

    detectors: tuple[DetectorSpec, ...] = (DetectorSpec("exact"),)
    rules: tuple[Rule, ...] | None = None
    """None means: each detector's default rules."""
    combine: Combine = "any"
    mode: Mode = "drop"
    weight: WeightSpec | None = None
    mixture: MixtureSpec | None = None
    """Where set, the report estimates how much of the input is machine-written, with an interval."""
    text_column: str = "text"
    """A column, or a field of a struct column by its dotted path (``metadata.text``)."""
    id_column: str | None = None
    output_format: str = "parquet"
    """How kept/, removed/ and quarantine/ are written: ``parquet`` or ``jsonl``."""
    defend: bool = True
    """Detectors see text after NFKC, zero-width stripping and homoglyph folding (outputs keep the original)."""
    reuse_scores: bool = False
    """A row detector whose every output column is already in the input (an earlier ``score`` run) is not run
    again; the filter decides on the columns as they are. Off by default: stale columns go unnoticed."""
    max_text_bytes: int = 5_000_000
    rows_per_shard: int = 50_000
    batch_size: int = 1024
    worker_memory_mb: int | None = None
    """Memory budget of one worker: shards shrink (below ``rows_per_shard``) until a shard's uncompressed
    size, read from the Parquet metadata, is at most ``SHARD_SHARE`` of it, since a task holds the shard's
    input, its defended text, its scored output and its keys at once. None: ``rows_per_shard`` alone."""

    def __post_init__(self) -> None:
        if self.mode not in ("drop", "tag", "weight"):
            raise ValueError(f"mode must be drop, tag or weight, got {self.mode!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {self.output_format!r}")
        names = [d.name for d in self.detectors]
        if len(set(names)) < len(names):
            raise ValueError(f"each detector may be configured once, got {names}")
        if self.max_text_bytes <= 0 or self.rows_per_shard <= 0 or self.batch_size <= 0:
            raise ValueError("max_text_bytes, rows_per_shard and batch_size must be positive")
        if self.worker_memory_mb is not None and self.worker_memory_mb <= 0:
            raise ValueError(f"worker_memory_mb must be positive, got {self.worker_memory_mb}")

    @property
    def max_shard_bytes(self) -> int | None:
        """The largest uncompressed shard the memory budget allows (None: no budget)."""
        return None if self.worker_memory_mb is None else int(self.worker_memory_mb * 2**20 * SHARD_SHARE)

    def stage(self, default_rules: list[Rule]) -> FilterStage:
        """The filter stage this config describes, given the detectors' default rules."""
        rules = tuple(default_rules) if self.rules is None else self.rules
        return FilterStage(rules=rules, combine=self.combine, weight=self.weight)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for YAML/JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FilterConfig:
        """Build from plain data, rejecting unknown keys so a typo never passes silently."""
        check_keys(cls, data, "config keys")
        data = dict(data)
        if "detectors" in data:
            data["detectors"] = tuple(_detector_spec(d) for d in data["detectors"] or ())
        if data.get("rules") is not None:
            data["rules"] = tuple(_build(Rule, r, "rule") for r in data["rules"])
        if data.get("weight") is not None:
            data["weight"] = _build(WeightSpec, data["weight"], "weight")
        if data.get("mixture") is not None:
            data["mixture"] = _build(MixtureSpec, data["mixture"], "mixture")
        return cls(**data)

    def replace(self, **changes: Any) -> FilterConfig:
        """A copy with some fields changed (None values are ignored, so CLI defaults can pass through)."""
        return FilterConfig(**with_changes(self, changes))


def with_changes(config: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The dataclass ``config``'s fields with the non-None ``changes`` applied: what a ``replace`` rebuilds from."""
    current = {f.name: getattr(config, f.name) for f in fields(config)}
    current.update({k: v for k, v in changes.items() if v is not None})
    return current


def check_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Raise ValueError naming every key of ``data`` that is not a constructor field of the dataclass ``cls``."""
    known = {f.name for f in fields(cls) if f.init}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; valid keys are {sorted(known)}")


def _build(cls: type, data: Any, what: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a mapping, got {data!r}")
    check_keys(cls, data, f"{what} keys")
    return cls(**data)


def _detector_spec(item: Any) -> DetectorSpec:
    if isinstance(item, str):
        return DetectorSpec(item)
    return _build(DetectorSpec, item, "detector")


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The mapping in a ``.yaml``/``.yml`` or ``.toml`` file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text) or {}
    raise ValueError(f"{path}: config must end in .yaml, .yml or .toml")


def load_config(path: str | Path) -> FilterConfig:
    """Load a config from a ``.yaml``/``.yml`` or ``.toml`` file."""
    return load_mapping(path, FilterConfig.from_dict)


def load_mapping(path: str | Path, build: Callable[[dict[str, Any]], T]) -> T:
    """``build`` applied to the mapping in a ``.yaml``/``.yml`` or ``.toml`` file; its errors name the file."""
    data = read_mapping(path)
    try:
        return build(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def dump_config(config: FilterConfig, path: str | Path) -> None:
    """Write a config as YAML, which `load_config` reads back."""
    Path(path).write_text(yaml.safe_dump(_plain(config.to_dict()), sort_keys=False), encoding="utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class UsageError(ValueError):
    """The run cannot start as asked (no readable file has the text column, a rule reads no column, ...)."""


def parse_params(items: Sequence[str] | None, option: str, dotted: bool,
                 known: Collection[str] | None = None) -> dict[str, Any]:
    """Parse repeated ``KEY=VALUE`` items (``DETECTOR.NAME=VALUE`` into ``{DETECTOR: {NAME: VALUE}}`` if dotted).

    Each VALUE is read as YAML. ``known``, where given, lists the detectors a dotted item may name; items are checked
    in order so the first bad one is the one reported (a ``UsageError``, which is a ``ValueError``).
    """
    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        name, dot, field = key.partition(".")
        if dotted and (not sep or not dot):
            raise UsageError(f"{option} {item!r}: expected DETECTOR.NAME=VALUE")
        if not dotted and (not sep or not key):
            raise UsageError(f"{option} {item!r}: expected KEY=VALUE")
        if dotted and known is not None and name not in known:
            raise UsageError(f"{option} {item!r}: detector {name!r} is not configured (have {sorted(known)})")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{option} {item!r}: VALUE is not YAML ({getattr(exc, 'problem', None) or exc})") from exc
        if dotted:
            parsed.setdefault(name, {})[field] = value
        else:
            parsed[key] = value
    return parsed


def filter_config(config: Path | None, detectors: str | None, params: Sequence[str] | None = None,
                  **changes: object) -> FilterConfig:
    """A run configuration from ``--config``, ``--detectors`` and ``--param`` items, as ``filterkit filter`` builds
    it."""
    cfg = load_config(config) if config else FilterConfig()
    if detectors:
        cfg = cfg.replace(detectors=tuple(DetectorSpec(n.strip()) for n in detectors.split(",") if n.strip()))
    specs = {s.name: dict(s.params) for s in cfg.detectors}
    for name, values in parse_params(params, "--param", dotted=True, known=specs).items():
        specs[name].update(values)
    cfg = cfg.replace(detectors=tuple(DetectorSpec(n, p) for n, p in specs.items()))
    return cfg.replace(**changes)
