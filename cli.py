"""The ``filterkit`` command: parses arguments and calls the Python API, nothing more."""
from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, get_type_hints

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from filterkit import FilterConfig, RunResult
    from filterkit.engine.executors import Executor

app = typer.Typer(help="Keep synthetic and near-duplicate text out of training corpora.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console(stderr=True)
"""Progress, notes and errors go to stderr."""
results = Console()
"""What a command produced (the results table, the report's path) goes to stdout."""
DEFAULT_DETECTORS = "exact"
"""What a run without --detectors or --config runs: ``FilterConfig``'s default (tests/test_cli.py checks they agree)."""


class Mode(StrEnum):
    """What ``filter`` does with a flagged row."""

    drop = "drop"
    tag = "tag"
    weight = "weight"


Inputs = Annotated[list[str], typer.Argument(
    help="Input files (.parquet, .jsonl, .jsonl.gz, .jsonl.zst, a datasets directory's .arrow), directories or "
         "globs; local paths or URIs (s3://, gs://, hf://, ...).")]
Out = Annotated[Path, typer.Option("-o", "--out", help="Output directory.")]
RunOut = Annotated[str, typer.Option("-o", "--out", help="Output directory: a local path or a URI.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML or TOML config file.")]
DetectorsOpt = Annotated[str | None, typer.Option("--detectors", help=(
    f"Comma-separated detector names: exact, minhash, replay, lm, classifier, length, obfuscation, or a plugin's "
    f"(or package.module:Class). Default: the config's, or without --config {DEFAULT_DETECTORS} alone."))]
TextCol = Annotated[str | None, typer.Option(
    "--text-column", help="Text column (default: text); a struct's field by its dotted path, e.g. metadata.text.")]
IdCol = Annotated[str | None, typer.Option("--id-column", help="Id column (default: file and row).")]
Workers = Annotated[int, typer.Option("--workers", help="Processes for shard tasks.")]
Resume = Annotated[bool, typer.Option("--resume", help="Finish a killed run, skipping finished shards.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace whatever the output directory holds.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local or ray.")]
RayAddress = Annotated[str | None, typer.Option("--ray-address", help="Ray cluster (default: start a local one).")]
Params = Annotated[list[str] | None, typer.Option(
    "--param", help="Detector parameter as DETECTOR.NAME=VALUE (VALUE read as YAML); repeatable.")]
LmModel = Annotated[str | None, typer.Option("--lm-model", help="= --param lm.model=... (path, cached id, GGUF).")]
LmObserver = Annotated[str | None, typer.Option("--lm-observer", help="= --param lm.observer=... (Binoculars).")]
ClassifierModel = Annotated[str | None, typer.Option("--classifier-model", help="= --param classifier.model_dir=...")]
ReplayIndex = Annotated[str | None, typer.Option("--replay-index", help="= --param replay.index=...")]
RowsPerShard = Annotated[int | None, typer.Option(
    "--rows-per-shard", help="Rows per task (default 50,000); smaller for slow detectors such as lm.")]
ReuseScores = Annotated[bool, typer.Option(
    "--reuse-scores", help="Do not rerun a detector whose columns the input already has (an earlier score run).")]
ModeOpt = Annotated[Mode | None, typer.Option("--mode")]
OutputFormat = Annotated[str | None, typer.Option(
    "--output-format", help="How kept/, removed/ and quarantine/ are written: parquet (default) or jsonl.")]
WorkDir = Annotated[Path | None, typer.Option(
    "--work-dir", help="Local (or shared) directory for working files (default: OUT/_work; for a remote OUT, "
                       "~/.cache/filterkit/work/<hash of OUT>).")]


@dataclass(frozen=True)
class RunOptions:
    """The options ``filter`` and ``score`` share; field order is the order ``--help`` lists them in."""

    inputs: Inputs
    out: RunOut
    config: ConfigOpt = None
    detectors: DetectorsOpt = None
    text_column: TextCol = None
    id_column: IdCol = None
    workers: Workers = 1
    resume: Resume = False
    overwrite: Overwrite = False
    param: Params = None
    executor: ExecutorOpt = "local"
    ray_address: RayAddress = None
    lm_model: LmModel = None
    lm_observer: LmObserver = None
    classifier_model: ClassifierModel = None
    replay_index: ReplayIndex = None
    rows_per_shard: RowsPerShard = None
    reuse_scores: ReuseScores = False
    output_format: OutputFormat = None
    work_dir: WorkDir = None

    def params(self) -> list[str]:
        """The --param items with the shortcut options appended as the --param items they stand for."""
        return _shortcuts(self.param, self.lm_model, self.lm_observer, self.classifier_model, self.replay_index)


def _with_run_options(command: Callable[..., None]) -> Callable[..., None]:
    # typer reads a command's options from its signature and cannot expand a dataclass, so the signature typer sees
    # is RunOptions' fields with the command's own options after --detectors (where filter has always listed --mode);
    # the command itself receives them as one RunOptions.
    hints = get_type_hints(RunOptions, include_extras=True)
    shared = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hints[f.name],
                                default=inspect.Parameter.empty if f.default is MISSING else f.default)
              for f in fields(RunOptions)]
    own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
    at = [p.name for p in shared].index("detectors") + 1
    signature = inspect.Signature(shared[:at] + own + shared[at:])
    names = {f.name for f in fields(RunOptions)}

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        opts = RunOptions(**{k: kwargs.pop(k) for k in names})
        command(opts, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return wrapper


def _progress() -> AbstractContextManager[Callable[[str, int, int], None]]:
    """A ``progress(phase, done, total)`` callback on stderr: bars on a terminal, plain lines elsewhere."""
    from filterkit.engine.progress import PIPELINE_UNITS, progress_display

    return progress_display(console, PIPELINE_UNITS)


def _safe(text: object) -> str:
    """A user-supplied string for rich: control characters shown escaped, markup shown as written."""
    from filterkit.engine.report import printable

    return escape(printable(text))


def _shortcuts(params: list[str] | None, lm_model: str | None, lm_observer: str | None,
               classifier_model: str | None, replay_index: str | None) -> list[str]:
    given = {"lm.model": lm_model, "lm.observer": lm_observer, "classifier.model_dir": classifier_model,
             "replay.index": replay_index}
    return list(params or []) + [f"{k}={v}" for k, v in given.items() if v is not None]


def _fail(exc: Exception, status: int = 2) -> NoReturn:
    """One line on stderr, ``error: ...``, and the exit status (2: a usage error, nothing written)."""
    console.print(f"[red]error:[/red] {_safe(exc)}", soft_wrap=True, highlight=False)
    raise typer.Exit(status)


def _executor(kind: str, workers: int, ray_address: str | None) -> Executor:
    from filterkit.engine.executors import LocalExecutor

    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        try:
            from filterkit.engine.ray_executor import RayExecutor
        except ImportError as exc:
            raise ValueError("the Ray executor needs: pip install 'filterkit[ray]'") from exc
        return RayExecutor(address=ray_address, workers=workers if workers > 1 else None)
    raise ValueError(f"--executor must be local or ray, got {kind!r}")


def _run(inputs: list[str], out: str, cfg: FilterConfig, executor: Executor, resume: bool, overwrite: bool,
         score_only: bool, work_dir: Path | None = None) -> bool:
    from filterkit import run, score
    from filterkit.engine.pipeline import RunFinishedError

    fn = score if score_only else run
    try:
        with _progress() as progress:
            result = fn(inputs, out, cfg, executor=executor, resume=resume, overwrite=overwrite, progress=progress,
                        work_dir=work_dir)
    except RunFinishedError as exc:  # the same command again: say so, and show what the run gave
        console.print(_safe(exc), soft_wrap=True, highlight=False)
        result = exc.result
    return _summary(result, out, score_only)


def _summary(result: RunResult, out: str, score_only: bool) -> bool:
    """Print a run's counts, reasons and failures on stdout; whether it read every row and accounted for it."""
    report = result.report
    c = report["counts"]
    columns = ("rows_in", "kept", "removed", "quarantined", "unreadable_rows", "flagged")
    table = Table(title=f"filterkit {'score' if score_only else 'filter'}")
    for name in columns:
        table.add_column(name, justify="right")
    table.add_row(*(f"{c[k]:,}" for k in columns))
    results.print(table)
    reasons, overlap = report["filter_reasons"], report.get("reason_overlap")
    verb = "removed" if report["mode"] == "drop" else "flagged"
    if reasons:
        if len(reasons) > 1 and overlap:
            results.print(f"{verb} {c['flagged']:,} rows: {overlap['rows_one_reason']:,} for one reason, "
                          f"{overlap['rows_several_reasons']:,} for several (so the reasons below add up to "
                          f"{sum(reasons.values()):,})", soft_wrap=True, highlight=False)
        width = max(len(_safe(r)) for r in reasons)
        for reason, n in reasons.items():
            alone = f"  ({overlap['alone'].get(reason, 0):,} for this reason alone)" if overlap and len(reasons) > 1 \
                else ""
            results.print(f"  {verb}  {_safe(reason):<{width}} {n:>9,}{alone}", soft_wrap=True, highlight=False)
    for reason, n in report["quarantine_reasons"].items():
        results.print(f"  quarantined  {_safe(reason)}: {n:,}", soft_wrap=True, highlight=False)
    for failure in report["files_failed"] + report["unreadable_ranges"]:
        results.print(f"[red]  unreadable[/red] {_safe(failure['source'])}: {_safe(failure['error'])}",
                      soft_wrap=True, highlight=False)
    for task in report["failed_tasks"]:
        results.print(f"[red]  failed[/red] {_safe(task['task'])}: {_safe(task['error'])} (rerun with --resume to "
                      "retry)", soft_wrap=True, highlight=False)
    results.print(f"report: {_safe(str(result.out).rstrip('/'))}/report/report.md", soft_wrap=True, highlight=False)
    return result.ok and report["conservation"]["holds"]


class _Printable(logging.Formatter):
    """Log lines with their control characters shown escaped (a file name cannot drive the terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        from filterkit.engine.report import printable

        return "\n".join(printable(line) for line in super().format(record).split("\n"))


@app.callback()
def _main(verbose: Verbose = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_Printable("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    from filterkit.engine.progress import quiet_library_bars

    quiet_library_bars(sys.stderr)


def _filter_or_score(opts: RunOptions, score_only: bool, **changes: object) -> None:
    try:
        from filterkit.config import filter_config
        cfg = filter_config(opts.config, opts.detectors, opts.params(), text_column=opts.text_column,
                      id_column=opts.id_column, rows_per_shard=opts.rows_per_shard,
                      reuse_scores=opts.reuse_scores or None, output_format=opts.output_format, **changes)
        if not opts.detectors and not opts.config:
            console.print(f"detectors: {DEFAULT_DETECTORS} (the default; --detectors names others)", highlight=False)
        ok = _run(opts.inputs, opts.out, cfg, _executor(opts.executor, opts.workers, opts.ray_address), opts.resume,
                  opts.overwrite, score_only, opts.work_dir)
    except (ValueError, FileNotFoundError, RuntimeError, ConnectionError) as exc:
        _fail(exc)
    except OSError as exc:  # a disk that filled or went read-only during the run
        _fail(OSError(f"{exc} (the run stopped; fix it and rerun with --resume)"), status=1)
    if not ok:
        raise typer.Exit(1)


@app.command("filter")
@_with_run_options
def filter_cmd(opts: RunOptions, mode: ModeOpt = None) -> None:
    """Score, decide and write kept/, removed/, quarantine/ and a report. Exit 1 if any file failed to read.

    Without --detectors or --config it runs exact (exact duplicates) alone."""
    _filter_or_score(opts, False, mode=mode.value if mode else None)


@app.command("score")
@_with_run_options
def score_cmd(opts: RunOptions) -> None:
    """Write every row with its score columns and a filter_decision column (tag mode).

    Without --detectors or --config it runs exact (exact duplicates) alone."""
    _filter_or_score(opts, True)


@app.command("calibrate")
def calibrate_cmd(human: Annotated[list[str], typer.Argument(help="Known-human Parquet files or directories.")],
                  out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the calibrated config.")],
                  column: Annotated[str | None, typer.Option(
                      "--column", help="Score column to threshold (default: the column of the config's one rule, "
                                       "e.g. classifier.p_machine with --detectors classifier).")] = None,
                  config: ConfigOpt = None, detectors: DetectorsOpt = None,
                  max_fpr: Annotated[float, typer.Option("--max-fpr", help="Largest share of humans removed.")] = 0.01,
                  op: Annotated[str | None, typer.Option("--op", help="Rule direction (default >=).")] = None,
                  by: Annotated[str | None, typer.Option(
                      "--by", help="Column for per-bucket thresholds: a domain column, or length.words.")] = None,
                  edges: Annotated[str | None, typer.Option(
                      "--edges", help="Bucket edges for a numeric --by column, e.g. 50,100,200.")] = None,
                  text_column: TextCol = None, param: Params = None,
                  mixture_reference: Annotated[Path | None, typer.Option(
                      "--mixture-reference", help="Also write the human scores of COLUMN here and set the config's "
                                                  "mixture, so reports estimate the machine-written share.")] = None,
                  ) -> None:
    """Set the threshold on COLUMN so that on average at most --max-fpr of new human documents would be removed."""
    from filterkit.config import dump_config
    from filterkit.engine.calibrate import calibrate

    try:
        from filterkit.config import filter_config
        cfg = filter_config(config, detectors, param, text_column=text_column)
        cuts = tuple(float(e) for e in edges.split(",")) if edges else None
        new, info = calibrate(human, cfg, column, max_fpr, op, by=by, edges=cuts,  # type: ignore[arg-type]
                              reference_out=mixture_reference)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    dump_config(new, out)
    results.print_json(json.dumps(info))
    results.print(f"config written to {_safe(out)}", soft_wrap=True, highlight=False)


@app.command("report")
def report_cmd(out: Annotated[str, typer.Argument(help="Output directory of a finished run.")],
               work_dir: WorkDir = None) -> None:
    """Re-render the human report of a finished run from its report.json and its working directory's samples."""
    from filterkit.engine.report import render_report
    from filterkit.io.layout import Layout
    from filterkit.io.storage import exists, read_json

    lay = Layout(out, work_dir)
    if not exists(lay.report_json):
        _fail(FileNotFoundError(f"{lay.report_json} does not exist: is {out} a finished filterkit run?"))
    results.print(f"report: {_safe(render_report(lay, read_json(lay.report_json)))}", soft_wrap=True, highlight=False)


index_app = typer.Typer(help="Replay index: MinHash signatures of texts known to be synthetic.", no_args_is_help=True)
app.add_typer(index_app, name="index")
Texts = Annotated[list[str], typer.Argument(help="Parquet files, directories or globs, or .jsonl files, of texts.")]


@index_app.command("build")
def index_build_cmd(texts: Texts, out: Out, text_column: TextCol = None,
                    id_column: Annotated[str | None, typer.Option(
                        "--id-column", help="Column reported as replay.match_id (default: file:row).")] = None,
                    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.")] = 128,
                    ngram: Annotated[int, typer.Option("--ngram", help="Shingle size.")] = 5,
                    unit: Annotated[str, typer.Option("--unit", help="Shingle unit: word or char.")] = "word",
                    seed: Annotated[int, typer.Option("--seed", help="Permutation seed.")] = 1,
                    overwrite: Overwrite = False) -> None:
    """Sign TEXTS into a new replay index at OUT (for the replay detector's --param replay.index=OUT)."""
    from detectors.duplicates.index import IndexParams, build

    try:
        params = IndexParams(num_perm=num_perm, ngram=ngram, unit=unit, seed=seed)  # type: ignore[arg-type]
        params.hasher()
        manifest = build(texts, out, params, text_column=text_column or "text", id_column=id_column,
                         overwrite=overwrite)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    results.print(f"index {_safe(out)}: {manifest['count']} texts in {len(manifest['parts'])} part(s)", soft_wrap=True)


@index_app.command("add")
def index_add_cmd(index_dir: Annotated[Path, typer.Argument(help="An index made by `filterkit index build`.")],
                  texts: Texts, text_column: TextCol = None,
                  id_column: Annotated[str | None, typer.Option(
                      "--id-column", help="Column reported as replay.match_id (default: file:row).")] = None) -> None:
    """Sign TEXTS into an existing index, with the parameters it was built with."""
    from detectors.duplicates.index import add

    try:
        manifest = add(index_dir, texts, text_column=text_column or "text", id_column=id_column)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    results.print(f"index {_safe(index_dir)}: {manifest['count']} texts in {len(manifest['parts'])} part(s)",
                  soft_wrap=True)


@app.command("train-detector")
def train_detector_cmd(
    data: Annotated[list[str], typer.Option("--data", help="Labelled Parquet (or human-only with --generate-with).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Model directory to write.")],
    label_column: Annotated[str, typer.Option("--label-column")] = "label",
    positive: Annotated[str, typer.Option("--positive", help="Label value of machine text.")] = "machine",
    text_column: Annotated[str, typer.Option("--text-column")] = "text",
    group_column: Annotated[str | None, typer.Option(
        "--group-column", help="Rows sharing a value stay in one CV fold (default: the opening words).")] = None,
    stack: Annotated[str | None, typer.Option("--stack", help="'lm': also train the stacked head.")] = None,
    stack_model: Annotated[str, typer.Option("--stack-model", help="logistic or hgb.")] = "logistic",
    generate_with: Annotated[str | None, typer.Option(
        "--generate-with", help="Causal LM ('default' = SmolLM2) that writes the machine examples.")] = None,
    temperature: Annotated[float, typer.Option("--temperature")] = 0.8,
    top_p: Annotated[float, typer.Option("--top-p")] = 0.95,
    top_k: Annotated[int, typer.Option("--top-k")] = 0,
    repetition_penalty: Annotated[float, typer.Option("--repetition-penalty")] = 1.1,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens")] = 160,
    target_fpr: Annotated[float, typer.Option("--target-fpr", help="FPR the default threshold is set at.")] = 0.01,
    tfidf: Annotated[bool, typer.Option("--tfidf/--raw-counts", help=(
        "Weight the text head's n-grams by sublinear TF-IDF (see benchmarks/results/classifier_idf.md)."))] = False,
    lm_param: Annotated[list[str] | None, typer.Option("--lm-param", help="LM detector KEY=VALUE.")] = None,
) -> None:
    """Train the AI-text classifier, cross-validated by group, and save it with skops and a manifest."""
    from detectors.classifier.generate import GenerationConfig
    from detectors.classifier.train import TrainConfig, train_from_parquet

    try:
        if stack not in (None, "lm"):
            raise ValueError(f"--stack takes 'lm', got {stack!r}")
        from filterkit.config import parse_params
        lm_params = parse_params(lm_param, "--lm-param", dotted=False)
        cfg = TrainConfig(label_column=label_column, positive=positive, text_column=text_column,
                          group_column=group_column, stack=stack, stack_model=stack_model,  # type: ignore[arg-type]
                          lm_params=lm_params, target_fpr=target_fpr, idf=tfidf)
        gen = GenerationConfig(model=generate_with, temperature=temperature, top_p=top_p, top_k=top_k,
                               repetition_penalty=repetition_penalty,
                               max_new_tokens=max_new_tokens) if generate_with else None
        with _progress() as progress:
            model = train_from_parquet(data, str(out), cfg, gen, progress=lambda d, t: progress("prepare", d, t))
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    table = Table(title=f"out-of-fold metrics → {_safe(out)}")
    for column in ("head", "AUROC", f"TPR at {target_fpr:g} FPR", "threshold"):
        table.add_column(column)
    for head, m in model.manifest["metrics_out_of_fold"].items():
        table.add_row(head, f"{m['auroc']:.4f}", f"{m[f'tpr_at_{target_fpr:g}_fpr']:.4f}", f"{m['threshold']:.4f}")
    results.print(table)


@app.command("train-router")
def train_router_cmd(
    inputs: Inputs,
    classifier_model: Annotated[str, typer.Option("--classifier-model", help="A model trained with --stack lm.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Router directory to write.")],
    sample: Annotated[int, typer.Option("--sample", help="Crawl rows the expensive detector labels.")] = 1000,
    share: Annotated[float, typer.Option("--share", help="Share of rows the cascade sends to the LM.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    text_column: TextCol = None,
    lm_param: Annotated[list[str] | None, typer.Option("--lm-param", help="LM detector KEY=VALUE.")] = None,
) -> None:
    """Distil a cascade router on the crawl: the LM and stacked head label a sample, a text head learns them.

    Then: filter INPUTS --detectors classifier --classifier-model M --param classifier.head=cascade
    --param classifier.router_dir=OUT."""
    import pyarrow as pa

    from detectors.classifier.detector import ClassifierDetector
    from detectors.classifier.router import sample_texts, train_router

    try:
        from filterkit.config import parse_params
        expensive = ClassifierDetector(model_dir=classifier_model, head="stacked",
                                       lm=parse_params(lm_param, "--lm-param", dotted=False))
        expensive.setup()
        texts = sample_texts(inputs, sample, seed=seed, text_column=text_column or "text")
        with _progress() as progress:
            model = train_router(pa.table({"text": texts}), expensive, share=share,
                                 progress=lambda d, t: progress("label", d, t))
        model.save(out)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    r, m = model.manifest["router"], model.manifest["metrics_out_of_fold"]["text"]
    results.print(f"router → {_safe(out)}: the expensive detector removed {r['expensive_removed']} of "
                  f"{r['sample_rows']} sample rows; the router's out-of-fold AUROC {m['auroc']:.3f}; it sends "
                  f"{share:.0%} to the LM", soft_wrap=True)


def main() -> None:
    """Entry point of the ``filterkit`` script."""
    app()


if __name__ == "__main__":
    main()
