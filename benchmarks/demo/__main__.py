"""``python -m benchmarks.demo [-o demo-out]``: build a small contaminated crawl from the shared data, filter it,
and show what was caught."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.entry import fail, log_warnings, progress


def main(argv: Sequence[str] | None = None) -> None:
    """Run the demo into OUT and print its measures as a table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("demo-out"), help="Where the demo writes.")
    parser.add_argument("--model", choices=("default", "lora", "ngram_lm"), default="default",
                        help="The classifier's packaged model: TF-IDF n-grams, the LoRA fine-tuned encoder, or the "
                             "n-grams with the scoring LM's statistics and hidden states (a few documents a second).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log progress details.")
    args = parser.parse_args(argv)
    log_warnings(args.verbose)
    from rich.console import Console
    from rich.table import Table

    from benchmarks.demo import run_demo
    from filterkit.engine.progress import PIPELINE_UNITS

    try:
        with progress(PIPELINE_UNITS, "rows") as update:
            result = run_demo(args.out, progress=update, model=args.model)
    except FileNotFoundError as exc:
        fail(exc)
    table = Table(title="filterkit demo")
    table.add_column("measure")
    table.add_column("value")
    for key, value in result.items():
        if isinstance(value, dict) and "calibrated" in value:  # the classifier's two regimes, one a line
            value = "\n".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        table.add_row(key.replace("_", " "), ", ".join(value) if isinstance(value, list) else str(value))
    # Off a terminal rich assumes 80 columns and would fold the report's path; a log keeps every character.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


if __name__ == "__main__":
    main()
