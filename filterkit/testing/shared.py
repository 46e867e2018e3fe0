"""Locating the shared data directory (``FILTERKIT_SHARED`` or ``../shared`` beside the project)."""
from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path:
    """The ``data`` folder of the shared inputs, or a clear error saying where it was looked for."""
    candidates = []
    if env := os.environ.get("FILTERKIT_SHARED"):
        candidates.append(Path(env))
    project = Path(__file__).resolve().parents[2]
    candidates += [project.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"]
    for c in candidates:
        data = c / "data" if (c / "data").is_dir() else c
        if (data / "human").is_dir():
            return data
    raise FileNotFoundError(f"shared data not found; set FILTERKIT_SHARED (looked in {[str(c) for c in candidates]})")
