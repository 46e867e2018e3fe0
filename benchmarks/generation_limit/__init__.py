"""Generation in the limit with replay: a finite simulation of Racca, Valko and Sanyal's separations.

``run_experiment(GenerationLimitConfig(), out)`` plays classes x targets x replay policies x filters x
generators over seeds and writes ``results.json``, ``results.md`` and ``results.png``;
``python -m benchmarks.generation_limit -o DIR`` is the same from the command line.
"""
from __future__ import annotations

from benchmarks.generation_limit.run import GenerationLimitConfig, run_experiment

__all__ = ["GenerationLimitConfig", "run_experiment"]
