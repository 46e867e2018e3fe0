"""Detectors, by registry name. Entries are import paths so that naming ``exact`` never imports torch."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from detectors.base import CorpusDetector, Detector, RowDetector

BUILTIN: dict[str, str] = {
    "exact": "detectors.exact:ExactDuplicates",
    "lm": "detectors.lm:LMDetector",
    "classifier": "detectors.classifier:ClassifierDetector",
    "length": "detectors.length:Length",
    "obfuscation": "detectors.obfuscation:Obfuscation",
    "minhash": "detectors.minhash:MinHashDuplicates",
    "replay": "detectors.replay:ReplayDetector",
}
ENTRY_POINT_GROUP = "filterkit.detectors"


def available() -> dict[str, str]:
    """Registry name to ``module:Class``, built-ins first, then plugins from the ``filterkit.detectors`` entry point."""
    names = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def detector_class(name: str) -> type[Detector]:
    """Import and return the class registered under ``name``, or named directly as ``package.module:Class``."""
    registry = available()
    if ":" in name:
        registry = {name: name}
    if name not in registry:
        raise ValueError(f"unknown detector {name!r}; known detectors: {', '.join(sorted(registry))}")
    module, _, attr = registry[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def build(name: str, params: dict[str, Any] | None = None) -> Detector:
    """Construct a detector from its registry name and parameters."""
    cls = detector_class(name)
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise ValueError(f"detector {name!r}: bad parameters {params}: {exc}") from exc


__all__ = ["CorpusDetector", "Detector", "RowDetector", "available", "build", "detector_class"]
