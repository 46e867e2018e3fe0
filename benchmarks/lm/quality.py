"""LM detector quality on detect/open_models.parquet: AUROC and TPR at 1% FPR per score, domain and generator.

Rows are sampled by article (a domain and an index of ``pair_id``): every row of a chosen article comes along,
its human text under each of the five generators and the five machine continuations, so no article is split.
Each score has a fixed direction (which end is machine-like) stated before looking at the data; nothing is
flipped afterwards. The default ``lm.fastdetect`` threshold is set at 1% FPR on the human rows of half of the
articles and checked on the other half, and CCNet-style perplexity buckets (terciles of the first half's human
perplexity) are counted on the second half.

    python -m benchmarks.lm quality [--articles 50] [--settings fp32,int8] [--out benchmarks/results]
    python -m benchmarks.lm quality --scores DIR   # lm_quality_all.*: every row, scored before by
                                                   # `filterkit score --detectors lm`
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score, roc_curve

from benchmarks.articles import twin_articles
from benchmarks.scored import read_scored
from filterkit.contract import registry
from filterkit.stage.rules import threshold_for_fpr
from filterkit.testing.shared import shared_data_dir

log = logging.getLogger("lm.quality")
DIRECTION = {"fastdetect": 1, "binoculars": -1, "loglik": 1, "perplexity": -1, "logrank": -1, "entropy": -1,
             "gltr_top1": 1, "gltr_top10": 1, "gltr_top100": 1, "gltr_top1000": 1}
"""+1: higher is more machine-like; -1: lower is. Machine text is more predictable to an LM than human text."""
SETTINGS = {"fp32": {}, "int8": {"quantize": "int8"}}
FPR = 0.01


def sample(articles: int, seed: int = 0) -> pd.DataFrame:
    """Every row of ``articles`` randomly chosen articles per domain, with ``article`` and ``half`` columns."""
    df = pq.read_table(shared_data_dir() / "detect" / "open_models.parquet").to_pandas()
    parts = df["pair_id"].str.split("/", expand=True)
    df["article"] = parts[0] + "/" + parts[2]
    rng = np.random.default_rng(seed)
    chosen = []
    for _domain, group in df.groupby("domain"):
        names = np.array(sorted(group["article"].unique()))
        chosen += list(rng.choice(names, size=min(articles, names.size), replace=False))
    out = df[df["article"].isin(set(chosen))].reset_index(drop=True)
    return with_halves(out)


def with_halves(df: pd.DataFrame) -> pd.DataFrame:
    """A ``half`` column (0 or 1) by the opening words of each pair's human text, so twins and re-cut copies stay
    together."""
    df = df.copy()
    df["article_group"] = twin_articles(df["text"].tolist(), df["label"].tolist(), df["pair_id"].tolist())
    df["half"] = df["article_group"] % 2
    return df


def scored_rows(path: Path) -> pd.DataFrame:
    """Rows of open_models.parquet with ``lm.*`` columns from an earlier ``filterkit score`` run."""
    df = read_scored(path).to_pandas()
    if "lm.fastdetect" not in df.columns or "label" not in df.columns:
        raise ValueError(f"{path}: expected open_models rows with lm.* columns (filterkit score --detectors lm)")
    return with_halves(df)


def metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """AUROC and the best TPR with FPR <= 1% (scores oriented so that higher = machine)."""
    keep = ~np.isnan(s)
    y, s = y[keep], s[keep]
    if y.all() or not y.any():
        return {"auroc": float("nan"), "tpr_at_1fpr": float("nan"), "n": int(y.size)}
    fpr, tpr, _ = roc_curve(y, s)
    return {"auroc": float(roc_auc_score(y, s)), "tpr_at_1fpr": float(tpr[fpr <= FPR].max()), "n": int(y.size)}


def evaluate(df: pd.DataFrame, scores: list[str]) -> dict:
    """Metrics per score: all rows, per domain, per generator (its machine rows against the humans of its pairs)."""
    y = (df["label"] == "machine").to_numpy()
    out: dict = {}
    for score in scores:
        s = DIRECTION[score] * df[f"lm.{score}"].to_numpy(dtype=float)
        row = {"all": metrics(y, s)}
        row["domain"] = {d: metrics(y[m], s[m]) for d in sorted(df["domain"].unique())
                         if (m := (df["domain"] == d).to_numpy()).any()}
        gens = df["pair_id"].str.split("/").str[1]
        row["generator"] = {g: metrics(y[m], s[m]) for g in sorted(gens.unique())
                            if (m := (gens == g).to_numpy()).any()}
        out[score] = row
    return out


def threshold_check(df: pd.DataFrame) -> dict:
    """The fastdetect threshold at 1% FPR on half 0's humans, and the FPR/TPR it gives on half 1."""
    cal, test = df[df["half"] == 0], df[df["half"] == 1]
    t = threshold_for_fpr(cal.loc[cal["label"] == "human", "lm.fastdetect"].to_numpy(float), FPR, ">=")
    fired = test["lm.fastdetect"].to_numpy(float) >= t
    human = (test["label"] == "human").to_numpy()
    return {"threshold": t, "calibration_rows": len(cal), "test_rows": len(test),
            "test_fpr": float(fired[human].mean()), "test_tpr": float(fired[~human].mean())}


def ccnet_buckets(df: pd.DataFrame) -> dict:
    """Share of half 1's human and machine rows in each perplexity tercile of half 0's humans."""
    cal, test = df[df["half"] == 0], df[df["half"] == 1]
    cuts = np.quantile(cal.loc[cal["label"] == "human", "lm.perplexity"].dropna(), [1 / 3, 2 / 3]).tolist()
    bucket = np.searchsorted(cuts, test["lm.perplexity"].to_numpy(float), side="right")
    names = ("head (low perplexity)", "middle", "tail (high perplexity)")
    share = {label: {names[b]: float(np.mean(bucket[(test["label"] == label).to_numpy()] == b)) for b in range(3)}
             for label in ("human", "machine")}
    return {"cutoffs": cuts, "share": share}


def main(argv: Sequence[str]) -> None:
    """Score the sample with each setting and write ``lm_quality.{json,md,png}``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lm quality", description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=50, help="articles per domain (each gives 10 rows)")
    parser.add_argument("--settings", default="fp32,int8")
    parser.add_argument("--model", default="default")
    parser.add_argument("--observer", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--keep", action="store_true", help="keep other settings of an earlier run of this sample")
    parser.add_argument("--scores", type=Path, help="evaluate these scored rows instead of scoring a sample")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if args.scores:
        scored = scored_rows(args.scores)
        names = [s for s in DIRECTION if f"lm.{s}" in scored.columns]
        result = {"command": f"python -m benchmarks.lm quality --scores {args.scores}", "rows": len(scored),
                  "articles": int(scored["article_group"].nunique()),
                  "labels": scored["label"].value_counts().to_dict(),
                  "settings": {"fp32, every row": {
                      "params": {"model": "default", "scored_by": "filterkit score --detectors lm"},
                      "seconds": float("nan"), "tokens": float(scored["lm.ntokens"].sum()),
                      "reasons": scored["lm.reason"].fillna("none").value_counts().to_dict(),
                      "scores": evaluate(scored, names), "threshold": threshold_check(scored),
                      "ccnet": ccnet_buckets(scored)}}}
        write_outputs(result, args.out, "lm_quality_all")
        return
    df = sample(args.articles)
    log.info("%d rows from %d articles", len(df), df["article"].nunique())
    results = {}
    for name in args.settings.split(","):
        params = {"model": args.model, "batch_size": args.batch_size, **SETTINGS[name]}
        if args.observer:
            params["observer"] = args.observer
        det = registry.build("lm", params)
        start, parts = time.perf_counter(), []
        for lo in range(0, len(df), 256):
            parts.append(det.score(pa.table({"text": df["text"].iloc[lo: lo + 256].tolist()})).to_pandas())
            log.info("%s: %d/%d rows", name, min(lo + 256, len(df)), len(df))
        seconds = time.perf_counter() - start
        scored = pd.concat([df.reset_index(drop=True), pd.concat(parts, ignore_index=True)], axis=1)
        names = [s for s in DIRECTION if f"lm.{s}" in scored.columns]
        results[name] = {"params": params, "seconds": seconds, "tokens": float(scored["lm.ntokens"].sum()),
                         "reasons": scored["lm.reason"].fillna("none").value_counts().to_dict(),
                         "scores": evaluate(scored, names), "threshold": threshold_check(scored),
                         "ccnet": ccnet_buckets(scored)}
    command = (f"python -m benchmarks.lm quality --articles {args.articles} --settings {args.settings} "
               f"--model {args.model} --batch-size {args.batch_size}"
               + (f" --observer {args.observer}" if args.observer else "") + (" --keep" if args.keep else ""))
    previous = args.out / "lm_quality.json"
    if args.keep and previous.exists():
        old = json.loads(previous.read_text(encoding="utf-8"))
        if old["rows"] == len(df):  # same sample: keep the settings this run did not score
            results = {**{k: v for k, v in old["settings"].items() if k not in results}, **results}
            command = old["command"] + "\n" + command
    result = {
        "command": command,
        "rows": len(df), "articles": int(df["article"].nunique()),
        "labels": df["label"].value_counts().to_dict(),
        "settings": results,
    }
    write_outputs(result, args.out, "lm_quality")


def write_outputs(result: dict, out: Path, stem: str) -> None:
    """``{stem}.json``, ``.md`` and ``.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(render(result), encoding="utf-8")
    plot(result, out / f"{stem}.png")


def render(r: dict) -> str:
    """Markdown tables of a result."""
    lines = ["# LM detector quality", "", "```", r["command"], "```", "",
             f"Rows of detect/open_models.parquet: {r['rows']} ({r['labels'].get('human', 0)} human, "
             f"{r['labels'].get('machine', 0)} machine) from {r['articles']} articles (by opening words). The "
             "threshold and bucket checks split them into halves by article. "
             "TPR is at 1% FPR. Directions are fixed in advance "
             "(higher fastdetect / loglik / GLTR shares, lower perplexity / log-rank / entropy / binoculars = "
             "machine).", ""]
    for name, res in r["settings"].items():
        groups = [*res["scores"]["fastdetect"]["domain"], *res["scores"]["fastdetect"]["generator"]]
        lines += [f"## Setting `{name}`: {json.dumps(res['params'])}", "",
                  f"{res['tokens']:,.0f} scored tokens"
                  + (f" in {res['seconds']:.0f} s" if res["seconds"] == res["seconds"] else "")
                  + f"; reasons: {res['reasons']}.", "",
                  "| score | AUROC | TPR@1%FPR | " + " | ".join(f"AUROC {g}" for g in groups) + " |",
                  "|---" * (3 + len(groups)) + "|"]
        for score, m in res["scores"].items():
            cells = [f"{m['all']['auroc']:.3f}", f"{m['all']['tpr_at_1fpr']:.3f}"]
            cells += [f"{v['auroc']:.3f}" for v in m["domain"].values()]
            cells += [f"{v['auroc']:.3f}" for v in m["generator"].values()]
            lines.append(f"| {score} | " + " | ".join(cells) + " |")
        fd = res["scores"]["fastdetect"]
        lines += ["", "TPR at 1% FPR of `lm.fastdetect` per domain: "
                  + ", ".join(f"{d} {v['tpr_at_1fpr']:.3f}" for d, v in fd["domain"].items())
                  + "; per generator: " + ", ".join(f"{g} {v['tpr_at_1fpr']:.3f}" for g, v in fd["generator"].items())
                  + ".", ""]
        t = res["threshold"]
        lines += [f"Threshold: `lm.fastdetect >= {t['threshold']:.3f}` removes 1% of the human rows of half the "
                  f"articles ({t['calibration_rows']} rows); on the other half ({t['test_rows']} rows) it removes "
                  f"{t['test_fpr']:.1%} of human and {t['test_tpr']:.1%} of machine rows.", ""]
        c = res["ccnet"]
        lines += [f"CCNet-style perplexity buckets (cut at {c['cutoffs'][0]:.1f} and {c['cutoffs'][1]:.1f}, the "
                  "terciles of half one's human perplexity), shares on the other half:", "",
                  "| rows | " + " | ".join(c["share"]["human"]) + " |", "|---|---|---|---|"]
        for label, shares in c["share"].items():
            lines.append(f"| {label} | " + " | ".join(f"{v:.1%}" for v in shares.values()) + " |")
        lines.append("")
    if "fp32" in r["settings"] and "int8" in r["settings"]:
        a = r["settings"]["fp32"]["scores"]["fastdetect"]["all"]
        b = r["settings"]["int8"]["scores"]["fastdetect"]["all"]
        lines += [f"int8 dynamic quantisation costs {a['auroc'] - b['auroc']:+.3f} AUROC and "
                  f"{a['tpr_at_1fpr'] - b['tpr_at_1fpr']:+.3f} TPR@1%FPR on `lm.fastdetect` (fp32 minus int8); "
                  f"scoring took {r['settings']['int8']['seconds']:.0f} s against "
                  f"{r['settings']['fp32']['seconds']:.0f} s of wall clock, under whatever load the shared machine "
                  "had at the time (not side by side: lm_speed.md compares speeds).", ""]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    """AUROC of every score per generator, one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(r["settings"].items())
    fig, axes = plt.subplots(1, len(settings), figsize=(6 * len(settings), 4), squeeze=False, sharey=True)
    for ax, (name, res) in zip(axes[0], settings, strict=True):
        scores = list(res["scores"])
        gens = list(res["scores"]["fastdetect"]["generator"])
        width = 0.8 / len(gens)
        for j, g in enumerate(gens):
            ax.bar(np.arange(len(scores)) + j * width, [res["scores"][s]["generator"][g]["auroc"] for s in scores],
                   width, label=g)
        ax.set_xticks(np.arange(len(scores)) + 0.4 - width / 2, scores, rotation=45, ha="right")
        ax.set_ylim(0.4, 1.0)
        ax.axhline(0.5, color="grey", linewidth=0.5)
        ax.set_title(f"{name}: AUROC per generator")
    axes[0][0].set_ylabel("AUROC")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

