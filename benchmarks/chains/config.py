"""The typed configuration of a generation-chains run, loadable from YAML or TOML."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filterkit.config import check_keys, load_mapping, with_changes

DEFAULT_PROMPT = ("Rephrase the following text in your own words. Reply with the rephrased text only.\n\n{text}")
"""The fixed instruction of every step; ``{text}`` is the previous step's output, and nothing else is remembered."""
SOURCES = ("news_wiki_stories", "wikitext2")
DETECTORS = ("lm", "classifier", "replay")


@dataclass(frozen=True)
class ChainsConfig:
    """Everything that decides a chains run; equal configs give equal results (on the same machine)."""

    model: str = "default"
    """The rephraser: ``default`` (SmolLM2-135M-Instruct) or any local causal-LM directory."""
    temperatures: tuple[float, ...] = (0.0, 0.7, 1.0)
    chains: int = 100
    """Chains per temperature; every temperature starts from the same human texts."""
    steps: int = 20
    source: str = "news_wiki_stories"
    min_words: int = 40
    max_words: int = 60
    """A start text is the article's first sentences: at least ``min_words``, cut at the last sentence end within
    ``max_words`` (or at ``max_words`` when no sentence ends in the window)."""
    prompt: str = DEFAULT_PROMPT
    max_new_tokens: int = 120
    top_p: float = 1.0
    """1.0: plain temperature sampling, so the temperature alone sets how random a step is."""
    batch_size: int = 32
    threads: int = 0
    """Torch CPU threads; 0 leaves torch's default."""
    seed: int = 0
    reuse_greedy_cycles: bool = True
    """At temperature 0 a step is a function of its input, so once a chain revisits an earlier text its future is
    known: later steps are copied from the cycle instead of generated again (saves most of the greedy compute)."""
    detectors: tuple[str, ...] = DETECTORS
    score_depths: tuple[int, ...] | None = None
    """Depths the detectors score (None: every depth 0..steps)."""
    human_holdout: int = 400
    """Held-out human texts (other articles of the same source, cut the same way) that set each 1%-FPR threshold."""
    max_fpr: float = 0.01
    classifier_rows: int = 4000
    """Labelled rows of detect/open_models.parquet the classifier trains on (no start or held-out article among
    them)."""
    lm_params: dict[str, Any] = field(default_factory=dict)
    """Overrides of the LM detector's parameters; its ``model`` defaults to the rephraser's."""
    plots: bool = True

    def __post_init__(self) -> None:
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ValueError(f"temperatures must be non-negative and at least one, got {self.temperatures}")
        if len(set(self.temperatures)) != len(self.temperatures):
            raise ValueError(f"temperatures repeat: {self.temperatures}")
        if self.chains < 1 or self.steps < 1 or self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("need chains, steps, batch_size and max_new_tokens >= 1")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError(f"need 1 <= min_words <= max_words, got {self.min_words}, {self.max_words}")
        if "{text}" not in self.prompt:
            raise ValueError("the prompt must contain {text}, where the previous step's text goes")
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown detectors {sorted(unknown)}; chains scores with {list(DETECTORS)}")
        if self.score_depths is not None and any(not 0 <= d <= self.steps for d in self.score_depths):
            raise ValueError(f"score_depths must lie in 0..{self.steps}, got {self.score_depths}")
        if not 0.0 < self.max_fpr < 1.0 or self.human_holdout < 1:
            raise ValueError("need 0 < max_fpr < 1 and human_holdout >= 1")

    def depths(self) -> list[int]:
        """The depths the detectors score, sorted."""
        return sorted(set(self.score_depths)) if self.score_depths is not None else list(range(self.steps + 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return asdict(self)

    def generation_key(self) -> dict[str, Any]:
        """The fields that decide the generated texts: a resumed run must match them."""
        keep = ("model", "chains", "source", "min_words", "max_words", "prompt", "max_new_tokens", "top_p",
                "batch_size", "seed", "reuse_greedy_cycles")
        return {k: getattr(self, k) for k in keep}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainsConfig:
        """Build from plain data; unknown keys are an error so a typo never passes silently."""
        check_keys(cls, data, "chains config keys")
        data = dict(data)
        for key, kind in (("temperatures", float), ("detectors", str), ("score_depths", int)):
            value = data.get(key)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if value is not None:
                data[key] = tuple(kind(v) for v in value)
        return cls(**data)

    def replace(self, **changes: Any) -> ChainsConfig:
        """A copy with the non-None ``changes`` applied."""
        return ChainsConfig.from_dict(with_changes(self, changes))


def load(path: str | Path) -> ChainsConfig:
    """A config from a ``.yaml``/``.yml`` or ``.toml`` file."""
    return load_mapping(path, ChainsConfig.from_dict)
