"""A chains run end to end: starts, chains per temperature (resumable), measures, detectors, report."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.chains import detect, measures, report
from benchmarks.chains.config import ChainsConfig
from benchmarks.chains.generate import Rephraser, advance, load_history
from benchmarks.chains.starts import load_starts
from benchmarks.chains.state import atomic_write_bytes, open_state, step_path, write_table

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


def run_chains(cfg: ChainsConfig, out: Path, work: Path | None = None, command: str | None = None,
               progress: Progress | None = None, resume: bool = False) -> dict[str, Any]:
    """Run (or continue, with ``resume``) every chain, measure and score them, and write OUT/results.*.

    State and caches go under ``work`` (default ``OUT``): ``_state`` (the steps), ``scores``, ``classifier`` and
    ``replay``; only small result files go to ``out``.
    """
    started = time.perf_counter()
    work = work or out
    root = work / "_state"
    open_state(root, cfg.generation_key(), resume)
    s = load_starts(cfg.source, cfg.chains, cfg.human_holdout, cfg.min_words, cfg.max_words, cfg.seed)
    write_table(root / "starts.parquet", pa.table({"chain": list(range(len(s.starts))), "article": s.start_ids,
                                                   "text": s.starts}))
    loaded: list[Rephraser] = []

    def rephraser() -> Rephraser:
        # Loaded once, on the first step that is not saved yet: a finished run's report needs no model.
        if not loaded:
            loaded.append(Rephraser.load(cfg.model, cfg.prompt, cfg.threads))
        return loaded[0]

    timings = _timings(root)
    invocations = _invocations(root) + [{"command": command, "seconds": 0.0}]
    histories: dict[float, list[list[str]]] = {t: [list(s.starts)] for t in cfg.temperatures}
    factory: Rephraser | Callable[[], Rephraser] = rephraser
    saved = {t: _steps_saved(root, t, cfg.steps) for t in cfg.temperatures}
    if progress:  # steps saved by an earlier invocation come first, so the rate counts only the steps made now
        for temp in cfg.temperatures:
            progress(f"T={temp:g}", saved[temp], cfg.steps)
    # Step-major: every temperature reaches depth k before any reaches k + 1, so a run stopped early (and
    # resumed with fewer --steps) still compares the temperatures at equal depth.
    for step in range(1, cfg.steps + 1):
        for temp in cfg.temperatures:
            t0 = time.perf_counter()
            had = bool(loaded)
            factory = advance(factory, histories[temp], temp, cfg, root)
            if had or loaded:  # only time spent generating counts; a saved step costs nothing
                timings[f"{temp:g}"] = timings.get(f"{temp:g}", 0.0) + time.perf_counter() - t0
            if progress and step > saved[temp]:
                progress(f"T={temp:g}", step, cfg.steps)
        atomic_write_bytes(root / "timings.json", json.dumps(timings, indent=1).encode())
        _note(root, invocations, started)
    results: dict[str, Any] = {"command": command, "config": cfg.to_dict(), "source": s.source,
                               "prompt_rendered": rephraser().render("{text}") if loaded else _rendered(cfg),
                               "holdout_humans": len(s.holdout), "generation_seconds": timings,
                               "temperatures": {}}
    for temp, history in histories.items():
        _, flags = load_history(root, s.starts, temp, cfg.steps)
        chains = measures.chain_measures(history)
        results["temperatures"][f"{temp:g}"] = {
            "summary": measures.summary(chains, cfg.steps, flags["truncated"], flags["copied"]),
            "by_depth": measures.depth_measures(history, chains),
            "chains": [c | {"article": a} for c, a in zip(chains, s.start_ids, strict=True)],
            "examples": [[history[d][c] for d in range(cfg.steps + 1)] for c in range(min(3, len(s.starts)))],
        }
    if progress:
        progress("detect", 0, 1)
    t0 = time.perf_counter()
    results["detectors"] = detect.run_detectors(cfg, histories, s.starts, s.holdout, work)
    results["detector_seconds"] = time.perf_counter() - t0
    if progress:
        progress("detect", 1, 1)
    results["wall_seconds_this_invocation"] = time.perf_counter() - started
    # Every invocation's wall time, a killed one's up to its last finished step, so a resumed run reports its total.
    results["invocations"] = _note(root, invocations, started)
    report.write(results, cfg, out)
    return results


def _note(root: Path, invocations: list[dict[str, Any]], started: float) -> list[dict[str, Any]]:
    invocations[-1]["seconds"] = time.perf_counter() - started
    atomic_write_bytes(root / "invocations.json", json.dumps(invocations, indent=1).encode())
    return invocations


def _invocations(root: Path) -> list[dict[str, Any]]:
    path = root / "invocations.json"
    return json.loads(path.read_text()) if path.is_file() else []


def _steps_saved(root: Path, temperature: float, steps: int) -> int:
    """How many of a temperature's first ``steps`` steps an earlier invocation saved (they are made in order)."""
    return next((k - 1 for k in range(1, steps + 1) if not step_path(root, temperature, k).is_file()), steps)


def _timings(root: Path) -> dict[str, float]:
    path = root / "timings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _rendered(cfg: ChainsConfig) -> str:
    """The prompt as the model saw it, without loading the weights (only the tokenizer's chat template)."""
    from detectors.lm.models import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model(cfg.model))
    return Rephraser(None, tokenizer, cfg.prompt).render("{text}")
