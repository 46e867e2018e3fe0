"""filterkit: keep synthetic and near-duplicate text out of training corpora."""
from __future__ import annotations

from filterkit.config import DetectorSpec, FilterConfig, load_config
from filterkit.engine.pipeline import RunResult, __version__, run, score
from filterkit.stage.rules import FilterStage, Rule, WeightSpec

__all__ = ["DetectorSpec", "FilterConfig", "FilterStage", "Rule", "RunResult", "WeightSpec", "load_config", "run",
           "score", "score_dataset", "__version__"]


def __getattr__(name: str):
    """``filterkit.score_dataset`` is imported on first use, so ``import filterkit`` never needs ``datasets``."""
    if name == "score_dataset":
        from filterkit.adapters.hf_datasets import score_dataset

        return score_dataset
    raise AttributeError(f"module 'filterkit' has no attribute {name!r}")
