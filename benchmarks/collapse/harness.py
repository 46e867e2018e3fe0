"""``run_collapse``: run the loop for a config and write results.json, results.md, results.png and run.json."""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from benchmarks.collapse.arms import PipelineArm
from benchmarks.collapse.config import CollapseConfig
from benchmarks.collapse.loop import Progress, cleanup, prepare, run_seeds
from benchmarks.collapse.plots import plot
from benchmarks.collapse.report import markdown
from benchmarks.collapse.summary import summarise

log = logging.getLogger(__name__)


def run_collapse(config: CollapseConfig, out: str | Path, *, command: str | None = None,
                 progress: Progress | None = None, resume: bool = False) -> dict[str, Any]:
    """Run every arm over every seed and generation; write the outputs into ``out`` and return results.json.

    Finished generations are checkpointed in ``out/_state`` (kept, so that a later run may add generations or
    seeds); ``resume`` continues from there.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    setup = prepare(config, out, resume=resume)
    if not setup.arms:
        raise ValueError(f"no arm can run: {setup.skipped}")
    try:
        records = run_seeds(setup, progress)
    finally:
        cleanup(setup)
    order = {name: i for i, name in enumerate(config.arms)}
    records.sort(key=lambda r: (order.get(r["arm"], len(order)), r["seed"], r["generation"]))
    rules = config.rules(setup.family.kind)
    summary, details = summarise(records, rules, config.generations, config.seeds, config.benefit_metric,
                                 config.bootstrap)
    results = {"records": records, "summary": summary}
    _write_json(results, out / "results.json")
    left_out = {a.label: a.notes() for a in setup.arms if isinstance(a, PipelineArm) and a.notes()}
    _write_json({"command": command, "config": config.to_dict(), "arms_run": [a.label for a in setup.arms],
                 "skipped": setup.skipped, "detectors_left_out": left_out,
                 "collapse_rules": [r.__dict__ for r in rules], "details": details,
                 "seconds": round(time.perf_counter() - started, 1)}, out / "run.json")
    png = plot(records, setup.family.kind, out / "results.png", f"{config.learner} / {config.schedule}"
               ) if config.plots else None
    skipped = setup.skipped | {f"{arm} (detector {name})": why for arm, notes in left_out.items()
                               for name, why in notes.items()}
    (out / "results.md").write_text(markdown(config, summary, details, records, skipped, command,
                                             png.name if png else None, rules), encoding="utf-8")
    return results


def _write_json(data: Any, path: Path) -> None:
    path.write_text(json.dumps(_clean(data), indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _clean(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers, and a null is never mistaken for a zero."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value
