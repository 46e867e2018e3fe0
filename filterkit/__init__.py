"""filterkit: keep synthetic and near-duplicate text out of training corpora."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from filterkit.config import DetectorSpec, FilterConfig, load_config  # noqa: E402
from filterkit.rules import FilterStage, Rule, WeightSpec  # noqa: E402

_LAZY = {"RunResult", "run", "score"}
__all__ = ["DetectorSpec", "FilterConfig", "FilterStage", "Rule", "WeightSpec", "load_config", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # The pipeline imports detectors, which import filterkit.rules: loading it lazily breaks that cycle.
    if name in _LAZY:
        from filterkit import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'filterkit' has no attribute {name!r}")
