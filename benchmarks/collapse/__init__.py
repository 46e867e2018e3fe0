"""The model-collapse benchmark: how many generations of recursive training does filtering buy?

``run_collapse(CollapseConfig(...), out)`` runs the loop (learners x schedules x arms over seeds and generations)
and writes ``results.json``, ``results.md``, ``results.png`` and ``run.json``; ``python -m benchmarks.collapse run``
is the same from the command line. Sub-packages by job: ``data`` (human and foreign text, crawl rows), ``learners``
(the models), ``experiment`` (config, loop, arms, schedules, checkpoints), ``analysis`` (metrics, survival,
summaries, comparisons) and ``reports`` (Markdown, plots, JSON); ``run`` and ``fp_error`` tie them together.
"""
from __future__ import annotations

from benchmarks.collapse.analysis.rules import CollapseRule
from benchmarks.collapse.experiment.config import CollapseConfig, load
from benchmarks.collapse.run import run_collapse

__all__ = ["CollapseConfig", "CollapseRule", "load", "run_collapse"]
