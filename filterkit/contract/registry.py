"""Finding detectors by name: the ``filterkit.detectors`` entry points, or a dotted ``package.module:Class``.

The built-in detectors are entry points of this package too (``pyproject.toml``), so the core never imports the
detectors layer: naming ``exact`` imports ``detectors.duplicates.exact`` alone, never torch.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from filterkit.contract.detector import Detector

ENTRY_POINT_GROUP = "filterkit.detectors"


def available() -> dict[str, str]:
    """Registry name to ``module:Class`` for every detector an installed package declares."""
    return {ep.name: ep.value for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)}


def detector_class(name: str) -> type[Detector]:
    """Import and return the class registered under ``name``, or named directly as ``package.module:Class``."""
    registry = {name: name} if ":" in name else available()
    if name not in registry:
        raise ValueError(f"unknown detector {name!r}; known detectors: {', '.join(sorted(registry))}")
    module, _, attr = registry[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:  # a typo in a dotted name, or a plugin missing a dependency
        raise ValueError(f"detector {name!r}: cannot import {registry[name]}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise ValueError(f"{registry[name]} is not a filterkit Detector")
    return cls


def build(name: str, params: dict[str, Any] | None = None) -> Detector:
    """Construct a detector from its registry name and parameters (construction does no I/O)."""
    cls = detector_class(name)
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise ValueError(f"detector {name!r}: bad parameters {params}: {exc}") from exc
