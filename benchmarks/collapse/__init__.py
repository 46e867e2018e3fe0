"""The model-collapse benchmark: how many generations of recursive training does filtering buy?

``run_collapse(CollapseConfig(...), out)`` runs the loop (learners x schedules x arms over seeds and generations)
and writes ``results.json``, ``results.md``, ``results.png`` and ``run.json``; ``filterkit bench collapse`` is the
same from the command line.
"""
from __future__ import annotations

from benchmarks.collapse.config import CollapseConfig, CollapseRule, load
from benchmarks.collapse.harness import run_collapse

__all__ = ["CollapseConfig", "CollapseRule", "load", "run_collapse"]
