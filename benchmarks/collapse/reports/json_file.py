"""Results as JSON files: indented, NaN and infinities written as null (JSON has no such numbers, and a null is never
mistaken for a zero), numpy scalars as plain numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` to ``path`` as indented JSON with a final newline."""
    path.write_text(json.dumps(clean(data), indent=1, allow_nan=False) + "\n", encoding="utf-8")


def clean(value: Any) -> Any:
    """``value`` with NaN and infinities as None, numpy scalars as Python numbers, tuples as lists, keys as str."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
