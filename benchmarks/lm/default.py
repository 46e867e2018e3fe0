"""The LM detector's default ``lm.fastdetect`` threshold, derived as the shipped classifier's is: the strictest
of the per-domain cuts that remove 1% of each domain's English human texts the classifier trains on, never test rows.

    python -m benchmarks.lm default --write-input -o lm_default_in.parquet
    filterkit score lm_default_in.parquet -o SCORED --detectors lm
    python -m benchmarks.lm default --scores SCORED [--out benchmarks/results]   # lm_default.{json,md,png}

The input holds a seeded sample of the English human texts the shipped classifier trains on (``load_rows()``, jobs
generation and expand: the four labelled files' human rows in its article half plus the extra human file) and
seeded samples of machine rows per source (the same jobs), of polished and rewritten human text and of non-English
human text.
``lm.fastdetect`` needs no training, so every score is out of sample, as if its domain were unseen. The threshold is
the largest of the per-domain 99th percentiles of the human scores (each distinct text once: the shared files repeat
human texts): the rule (``lodo_worst`` there) that kept every held-out domain of the transfer protocol within 1.2%
for the classifier (benchmarks/results/transfer_thresholds.md); one pooled 99th percentile is set by the domains
with the most humans and lost 2.4-3.6% of xsum's. Reported: both cuts with bootstrap intervals over articles, the
realised FPR per source and domain, each domain held out (the rule applied to the other domains' cuts), TPR on the
machine sample, and what the pooled cut and the first default (0.40, set on the transfer set's humans, test humans
included) do on the same rows.
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.scored import read_scored
from benchmarks.transfer.protocol import HUMAN_DERIVED, TRAIN_JOBS
from benchmarks.transfer.protocol_data import load_rows
from filterkit.stage.rules import threshold_for_fpr

HUMAN_SAMPLE = 3000
"""Of the 7,680 training humans: all of them would take ~80 min of LM scoring on 2 cores; 3,000 leave 30 above a
1% cut, and the bootstrap interval says how far that moves the threshold."""
MACHINE_PER_SOURCE = 100
DERIVED_SAMPLE = 100
FOREIGN_SAMPLE = 100
SEED = 0
FPR = 0.01
OLD_THRESHOLD = 0.40
RULE = "strictest_domain"
BOOTSTRAP = 1000
MIN_GROUP = 50
"""Human rows a held-out group needs before its FPR is reported."""


def build_input(seed: int = SEED) -> pa.Table:
    """Seeded samples of the English training-side humans, machine rows, polished/rewritten and non-English rows,
    shortest first (the LM batches neighbours, so similar lengths pad less)."""
    rows, foreign = load_rows()
    rng = np.random.default_rng(seed)
    english = rows.language == "en"
    trained = english & np.isin(rows.job, TRAIN_JOBS)
    humans = np.flatnonzero(trained & ~rows.y)
    parts = [rng.choice(humans, size=min(HUMAN_SAMPLE, humans.size), replace=False)]
    machine = trained & rows.y
    for source in sorted(set(rows.source[machine])):
        idx = np.flatnonzero(machine & (rows.source == source))
        parts.append(rng.choice(idx, size=min(MACHINE_PER_SOURCE, idx.size), replace=False))
    derived = np.flatnonzero(english & rows.y & np.isin(rows.job, HUMAN_DERIVED))
    parts.append(rng.choice(derived, size=min(DERIVED_SAMPLE, derived.size), replace=False))
    idx = np.concatenate(parts)
    picked = rows.take(idx)
    kind = np.where(~picked.y, "human", np.where(np.isin(picked.job, HUMAN_DERIVED), "derived", "machine"))
    f_idx = rng.choice(len(foreign), size=min(FOREIGN_SAMPLE, len(foreign)), replace=False)
    f = foreign.take(np.sort(f_idx))
    table = pa.table({
        "id": [f"r{i}" for i in idx] + [f"f{i}" for i in np.sort(f_idx)],
        "text": picked.text + f.text,
        "kind": list(kind) + ["foreign"] * len(f),
        "source": list(picked.source) + list(f.source),
        "domain": list(picked.domain) + list(f.domain),
        "generator": list(picked.generator) + list(f.generator),
        "job": list(picked.job) + list(f.job),
        "language": list(picked.language) + list(f.language),
        "article": pa.array(np.concatenate([picked.article, f.article]), pa.uint64()),
    })
    order = np.argsort([len(t) for t in table["text"].to_pylist()], kind="stable")
    return table.take(pa.array(order))


def rounded_up(threshold: float) -> float:
    """The threshold rounded up to two decimals: a constant a reader can quote, removing no more humans."""
    return math.ceil(threshold * 100 - 1e-9) / 100


def domain_cuts(scores: np.ndarray, domains: np.ndarray) -> dict[str, float]:
    """Per domain with at least ``MIN_GROUP`` humans: the cut that removes 1% of its humans."""
    return {str(d): threshold_for_fpr(scores[domains == d], FPR) for d in sorted(set(domains))
            if np.sum(domains == d) >= MIN_GROUP}


def strictest(scores: np.ndarray, domains: np.ndarray) -> float:
    """The largest per-domain 1% cut: no domain, scored as unseen, loses more than 1%."""
    return max(domain_cuts(scores, domains).values())


def bootstrap_threshold(scores: np.ndarray, articles: np.ndarray, domains: np.ndarray, n: int = BOOTSTRAP,
                        seed: int = SEED) -> dict[str, list[float]]:
    """95% intervals of the pooled and the strictest per-domain cut over article resamples (rows of one article
    come and go together)."""
    names, inverse = np.unique(articles, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(names.size)]
    rng = np.random.default_rng(seed)
    pooled, worst = [], []
    for _ in range(n):
        idx = np.concatenate([members[i] for i in rng.integers(0, names.size, names.size)])
        pooled.append(threshold_for_fpr(scores[idx], FPR))
        worst.append(strictest(scores[idx], domains[idx]))
    return {k: [float(x) for x in np.quantile(v, [0.025, 0.975])] for k, v in (("pooled", pooled), ("worst", worst))}


def held_out(humans: pd.DataFrame, by: str) -> dict[str, dict]:
    """Per group of ``by``: the threshold set on every other group's humans and the FPR it realises on this one's
    (a domain or source the threshold never saw, as on a user's crawl)."""
    out = {}
    for name, group in humans.groupby(by):
        rest = humans.loc[humans[by] != name, "lm.fastdetect"].to_numpy(float)
        if len(group) < MIN_GROUP or rest.size == 0:
            continue
        t = threshold_for_fpr(rest, FPR)
        s = group["lm.fastdetect"].to_numpy(float)
        out[str(name)] = {"threshold": t, "n": int(np.isfinite(s).sum()), "fpr": float(np.mean(s[np.isfinite(s)] >= t))}
    return out


def held_out_domain(humans: pd.DataFrame) -> dict[str, dict]:
    """Per domain: both rules set on the other domains' humans, and the FPR each realises on this domain's."""
    out = {}
    for name, group in humans.groupby("domain"):
        rest = humans[humans["domain"] != name]
        if len(group) < MIN_GROUP or len(rest) == 0:
            continue
        s = group["lm.fastdetect"].to_numpy(float)
        cuts = {"pooled": threshold_for_fpr(rest["lm.fastdetect"].to_numpy(float), FPR),
                RULE: strictest(rest["lm.fastdetect"].to_numpy(float), rest["domain"].to_numpy())}
        out[str(name)] = {"n": len(s), **{k: {"threshold": t, "fpr": float(np.mean(s >= t))} for k, t in cuts.items()}}
    return out


def rates(df: pd.DataFrame, by: str, thresholds: dict[str, float]) -> dict[str, dict]:
    """Per group: rows, NaN share (the detector abstains) and the share each threshold removes."""
    out = {}
    for name, group in df.groupby(by):
        s = group["lm.fastdetect"].to_numpy(float)
        out[str(name)] = {"n": len(s), "nan": float(np.mean(~np.isfinite(s))),
                          **{k: float(np.mean(np.nan_to_num(s, nan=-np.inf) >= t)) for k, t in thresholds.items()}}
    return out


def distinct(df: pd.DataFrame) -> pd.DataFrame:
    """Each text once. The shared files repeat human texts (one xsum article sits under several ImBD tasks and
    base-model pairs, up to 8 times in this sample); counted per row, a few repeated articles would set the cut."""
    return df.drop_duplicates("text") if "text" in df.columns else df


def evaluate(df: pd.DataFrame) -> dict:
    """Both cuts, their intervals, and what they and the first default remove per kind, source and domain, each
    distinct text counted once."""
    rows = len(df)
    df = distinct(df).pipe(lambda d: d.assign(group=d["source"] + "/" + d["domain"]))
    humans = df[(df["kind"] == "human") & np.isfinite(df["lm.fastdetect"])]
    scores, domains = humans["lm.fastdetect"].to_numpy(float), humans["domain"].to_numpy()
    pooled = threshold_for_fpr(scores, FPR)
    t = strictest(scores, domains)
    shipped = rounded_up(t)
    thresholds = {"new": shipped, "pooled": rounded_up(pooled), "old": OLD_THRESHOLD}
    return {
        "rows": rows, "distinct": len(df), "kinds": df["kind"].value_counts().to_dict(),
        "human_nan": int((df["kind"] == "human").sum() - len(humans)),
        "rule": RULE, "threshold": t, "threshold_shipped": shipped, "threshold_pooled": pooled,
        "threshold_by_domain": domain_cuts(scores, domains),
        "threshold_interval": bootstrap_threshold(scores, humans["article"].to_numpy(), domains),
        "by_kind": rates(df, "kind", thresholds),
        "human_by_group": rates(df[df["kind"] == "human"], "group", thresholds),
        "machine_by_source": rates(df[df["kind"] == "machine"], "source", thresholds),
        "foreign_by_language": rates(df[df["kind"] == "foreign"], "language", thresholds),
        "held_out_group": held_out(humans, "group"),
        "held_out_source": held_out(humans, "source"),
        "held_out_domain": held_out_domain(humans),
    }


def render(result: dict) -> str:
    """The report as Markdown, opening with its commands."""
    new, pooled = result["threshold_shipped"], rounded_up(result["threshold_pooled"])
    ci = result["threshold_interval"]
    cuts = ", ".join(f"{d} {t:.3f}" for d, t in result["threshold_by_domain"].items())
    cols = "| removed at new | at pooled | at first |"

    def row(name: str, v: dict, nan: bool = False) -> str:
        return (f"| {name} | {v['n']:,} |" + (f" {v['nan']:.1%} |" if nan else "")
                + f" {v['new']:.1%} | {v['pooled']:.1%} | {v['old']:.1%} |")

    lines = ["# The LM detector's default threshold, from the shipped classifier's training humans", "", "```",
             *result["commands"], "```", "",
             f"Rows: {result['rows']:,}, of which {result['distinct']:,} distinct texts, each counted once below "
             f"({', '.join(f'{n:,} {kind}' for kind, n in result['kinds'].items())}); {result['human_nan']} human "
             "texts got NaN (too short or unjudgeable) and are left out of the cut.", "",
             f"**Threshold (new):** `lm.fastdetect >= {new:.2f}` ({result['threshold']:.4f} rounded up; 95% interval "
             f"over article resamples [{ci['worst'][0]:.3f}, {ci['worst'][1]:.3f}]): the strictest of the per-domain "
             f"cuts that remove {FPR:.0%} of each domain's humans ({cuts}), so that no domain, scored as unseen, "
             "loses more than 1% (the rule `lodo_worst` of the shipped classifier). "
             f"**Pooled:** `>= {pooled:.2f}` ({result['threshold_pooled']:.4f}, [{ci['pooled'][0]:.3f}, "
             f"{ci['pooled'][1]:.3f}]), 1% of all these humans, the default before. "
             f"**First:** `>= {OLD_THRESHOLD:.2f}`, set on the transfer set's English humans, its test humans "
             "included.", "",
             "## Removed per kind", "", "| kind | rows | NaN " + cols, "|---|---:|---:|---:|---:|---:|"]
    lines += [row(kind, v, nan=True) for kind, v in result["by_kind"].items()]
    lines += ["", "`derived` = polished or rewritten human text (machine-labelled); `foreign` = non-English human "
              "text.", "", "## Humans per source/domain (in sample: these rows set the cuts)", "",
              "| source/domain | rows " + cols, "|---|---:|---:|---:|---:|"]
    lines += [row(g, v) for g, v in result["human_by_group"].items()]
    lines += ["", "## Held out: each domain judged by a cut set without it", "",
              "The out-of-the-box case: a domain the threshold never saw. Each rule applied to the other domains' "
              "humans.", "", "| held out domain | human rows | strictest other domain: cut | FPR | pooled: cut | FPR |",
              "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {d} | {v['n']:,} | {v[RULE]['threshold']:.3f} | {v[RULE]['fpr']:.1%} | "
              f"{v['pooled']['threshold']:.3f} | {v['pooled']['fpr']:.1%} |"
              for d, v in result["held_out_domain"].items()]
    lines += ["", "## Held out: the pooled cut set on every other source or source/domain's humans", "",
              "| held out | human rows | threshold | realised FPR |", "|---|---:|---:|---:|"]
    for part in ("held_out_source", "held_out_group"):
        lines += [f"| {g} | {v['n']:,} | {v['threshold']:.3f} | {v['fpr']:.1%} |" for g, v in result[part].items()]
    worst = max(v["fpr"] for part in ("held_out_source", "held_out_group") for v in result[part].values())
    lines += ["", f"Worst held-out FPR of the pooled rule here: {worst:.1%} (the issue's target: at most 5% in every "
              "domain).", "", "## Machine rows per source (TPR)", "",
              "| source | rows " + cols.replace("removed", "TPR"), "|---|---:|---:|---:|---:|"]
    lines += [row(g, v) for g, v in result["machine_by_source"].items()]
    lines += ["", "## Non-English human text", "", "| language | rows | NaN (abstains) | removed at new |",
              "|---|---:|---:|---:|"]
    lines += [f"| {g} | {v['n']:,} | {v['nan']:.0%} | {v['new']:.1%} |"
              for g, v in result["foreign_by_language"].items()]
    lines += ["", "![fastdetect by kind](lm_default.png)", ""]
    return "\n".join(lines)


def plot(df: pd.DataFrame, result: dict, path: Path) -> None:
    """Histograms of ``lm.fastdetect`` per kind with both thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    df = distinct(df)
    finite = df[np.isfinite(df["lm.fastdetect"])]
    bins = np.linspace(finite["lm.fastdetect"].quantile(0.001), finite["lm.fastdetect"].quantile(0.999), 60)
    for kind in ("human", "machine", "derived"):
        s = finite.loc[finite["kind"] == kind, "lm.fastdetect"]
        ax.hist(s, bins=bins, density=True, histtype="step", linewidth=1.4, label=f"{kind} ({len(s):,})")
    for value, style, name in ((result["threshold_shipped"], "-", "new"),
                               (rounded_up(result["threshold_pooled"]), "--", "pooled"), (OLD_THRESHOLD, ":", "first")):
        ax.axvline(value, color="k", linestyle=style, linewidth=1, label=f"{name} cut {value:.2f}")
    ax.set_xlabel("lm.fastdetect (higher = more machine-like)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str]) -> None:
    """Write the input rows, or report the threshold from their scores."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lm default", description=__doc__.split("\n")[0])
    parser.add_argument("--write-input", action="store_true")
    parser.add_argument("-o", "--output", type=Path, help="the input Parquet file (--write-input)")
    parser.add_argument("--scores", type=Path, help="the `filterkit score --detectors lm` output of that input")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.write_input:
        pq.write_table(build_input(), args.output)
        return
    if args.scores is None:
        parser.error("give --write-input -o FILE, or --scores DIR")
    df = read_scored(args.scores).to_pandas()
    result = {"commands": ["python -m benchmarks.lm default --write-input -o lm_default_in.parquet",
                           "filterkit score lm_default_in.parquet -o SCORED --detectors lm",
                           "python -m benchmarks.lm default --scores SCORED"], **evaluate(df)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lm_default.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (args.out / "lm_default.md").write_text(render(result), encoding="utf-8")
    plot(df, result, args.out / "lm_default.png")
