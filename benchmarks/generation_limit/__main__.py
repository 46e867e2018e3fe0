"""``python -m benchmarks.generation_limit -o DIR``: run the generation-with-replay simulation into DIR."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.generation_limit.run import GenerationLimitConfig, run_experiment

PROG = "python -m benchmarks.generation_limit"


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, run the experiment, print where the results went."""
    words = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog=PROG, description=__doc__)
    p.add_argument("-o", "--out", type=Path, default=Path("benchmarks/results/generation_limit"))
    defaults = GenerationLimitConfig()
    p.add_argument("--horizon", type=int, default=defaults.horizon)
    p.add_argument("--seeds", type=int, default=defaults.seeds)
    p.add_argument("--random-classes", type=int, default=defaults.random_classes)
    args = p.parse_args(words)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = GenerationLimitConfig(horizon=args.horizon, seeds=args.seeds, random_classes=args.random_classes)
    result = run_experiment(config, args.out, command=f"{PROG} {shlex.join(words)}".strip())
    print(f"wrote {args.out}/results.{{json,md,png}} in {result['seconds']} s")


if __name__ == "__main__":
    main()
