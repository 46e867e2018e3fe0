"""The ``filterkit`` command: parses arguments and calls the Python API, nothing more."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Keep synthetic and near-duplicate text out of training corpora.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console(stderr=True)


class Mode(str, Enum):
    drop = "drop"
    tag = "tag"
    weight = "weight"


Inputs = Annotated[list[str], typer.Argument(help="Parquet files, directories or globs.")]
Out = Annotated[Path, typer.Option("-o", "--out", help="Output directory.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="YAML or TOML config file.")]
DetectorsOpt = Annotated[Optional[str], typer.Option("--detectors", help="Comma-separated detector names.")]
TextCol = Annotated[Optional[str], typer.Option("--text-column", help="Text column (default: text).")]
IdCol = Annotated[Optional[str], typer.Option("--id-column", help="Id column (default: file and row).")]
Workers = Annotated[int, typer.Option("--workers", help="Processes for shard tasks.")]
Resume = Annotated[bool, typer.Option("--resume", help="Finish a killed run, skipping finished shards.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace whatever the output directory holds.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]
Params = Annotated[Optional[list[str]], typer.Option(
    "--param", help="Detector parameter as DETECTOR.NAME=VALUE (VALUE read as YAML); repeatable.")]


@contextmanager
def _progress() -> Iterator:
    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _config(config: Optional[Path], detectors: Optional[str], params: Optional[list[str]] = None,
            **changes: object):
    import yaml

    from filterkit import DetectorSpec, FilterConfig, load_config

    cfg = load_config(config) if config else FilterConfig()
    if detectors:
        cfg = cfg.replace(detectors=tuple(DetectorSpec(n.strip()) for n in detectors.split(",") if n.strip()))
    specs = {s.name: dict(s.params) for s in cfg.detectors}
    for item in params or []:
        key, sep, value = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot:
            raise ValueError(f"--param {item!r}: expected DETECTOR.NAME=VALUE")
        if name not in specs:
            raise ValueError(f"--param {item!r}: detector {name!r} is not configured (have {sorted(specs)})")
        specs[name][param] = yaml.safe_load(value)
    cfg = cfg.replace(detectors=tuple(DetectorSpec(n, p) for n, p in specs.items()))
    return cfg.replace(**changes)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def _run(inputs: list[str], out: Path, cfg, workers: int, resume: bool, overwrite: bool, score_only: bool) -> bool:
    from filterkit import run, score
    from filterkit.executors import LocalExecutor

    fn = score if score_only else run
    with _progress() as progress:
        result = fn(inputs, out, cfg, executor=LocalExecutor(workers), resume=resume, overwrite=overwrite,
                    progress=progress)
    c = result.report["counts"]
    table = Table(title=f"filterkit {'score' if score_only else 'filter'} → {out}")
    for name in ("rows_in", "kept", "removed", "quarantined", "unreadable_rows", "flagged"):
        table.add_column(name, justify="right")
    table.add_row(*(str(c[k]) for k in ("rows_in", "kept", "removed", "quarantined", "unreadable_rows", "flagged")))
    console.print(table)
    for reason, n in result.report["filter_reasons"].items():
        console.print(f"  removed  {reason}: {n}")
    for reason, n in result.report["quarantine_reasons"].items():
        console.print(f"  quarantined  {reason}: {n}")
    for failure in result.report["files_failed"] + result.report["unreadable_ranges"]:
        console.print(f"[red]  unreadable[/red] {failure['source']}: {failure['error']}")
    console.print(f"report: {out / 'report' / 'report.md'}")
    return result.ok and result.report["conservation"]["holds"]


@app.callback()
def _main(verbose: Verbose = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command("filter")
def filter_cmd(inputs: Inputs, out: Out, config: ConfigOpt = None, detectors: DetectorsOpt = None,
               mode: Annotated[Optional[Mode], typer.Option("--mode")] = None, text_column: TextCol = None,
               id_column: IdCol = None, workers: Workers = 1, resume: Resume = False, overwrite: Overwrite = False,
               param: Params = None) -> None:
    """Score, decide and write kept/, removed/, quarantine/ and a report. Exit 1 if any file failed to read."""
    try:
        cfg = _config(config, detectors, param, mode=mode.value if mode else None, text_column=text_column,
                      id_column=id_column)
        ok = _run(inputs, out, cfg, workers, resume, overwrite, score_only=False)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(exc)
    if not ok:
        raise typer.Exit(1)


@app.command("score")
def score_cmd(inputs: Inputs, out: Out, detectors: DetectorsOpt = None, config: ConfigOpt = None,
              text_column: TextCol = None, id_column: IdCol = None, workers: Workers = 1, resume: Resume = False,
              overwrite: Overwrite = False, param: Params = None) -> None:
    """Write every row with its score columns and a filter_decision column (tag mode)."""
    try:
        cfg = _config(config, detectors, param, text_column=text_column, id_column=id_column)
        ok = _run(inputs, out, cfg, workers, resume, overwrite, score_only=True)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(exc)
    if not ok:
        raise typer.Exit(1)


@app.command("calibrate")
def calibrate_cmd(human: Annotated[list[str], typer.Argument(help="Known-human Parquet files or directories.")],
                  column: Annotated[str, typer.Option("--column", help="Score column to threshold.")],
                  out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the calibrated config.")],
                  config: ConfigOpt = None, detectors: DetectorsOpt = None,
                  max_fpr: Annotated[float, typer.Option("--max-fpr", help="Largest share of humans removed.")] = 0.01,
                  op: Annotated[Optional[str], typer.Option("--op", help="Rule direction (default >=).")] = None,
                  text_column: TextCol = None, param: Params = None) -> None:
    """Set the threshold on COLUMN so that at most --max-fpr of the human documents would be removed."""
    from filterkit.calibrate import calibrate
    from filterkit.config import dump_config

    try:
        cfg = _config(config, detectors, param, text_column=text_column)
        new, info = calibrate(human, cfg, column, max_fpr, op)  # type: ignore[arg-type]
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    dump_config(new, out)
    console.print_json(json.dumps(info))
    console.print(f"config written to {out}")


@app.command("report")
def report_cmd(out: Annotated[Path, typer.Argument(help="Output directory of a finished run.")]) -> None:
    """Re-render the human report of a finished run from its report.json and outputs."""
    from filterkit.layout import Layout
    from filterkit.report import render_report
    from filterkit.storage import read_json

    lay = Layout(out)
    if not lay.report_json.exists():
        _fail(FileNotFoundError(f"{lay.report_json} does not exist: is {out} a finished filterkit run?"))
    console.print(f"report: {render_report(lay, read_json(lay.report_json))}")


@app.command("demo")
def demo_cmd(out: Annotated[Path, typer.Option("-o", "--out", help="Where the demo writes.")] = Path("demo-out")
             ) -> None:
    """Build a small contaminated crawl from the shared data, filter it, and show what was caught."""
    from filterkit.demo import run_demo

    try:
        with _progress() as progress:
            result = run_demo(out, progress=progress)
    except FileNotFoundError as exc:
        _fail(exc)
    table = Table(title="filterkit demo")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key.replace("_", " "), ", ".join(value) if isinstance(value, list) else str(value))
    Console().print(table)


def main() -> None:
    """Entry point of the ``filterkit`` script."""
    app()


if __name__ == "__main__":
    main()
