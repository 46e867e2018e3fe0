"""Transfer protocol: train on some domains and generators, test on one held out, thresholds from training humans.

    python -m benchmarks.transfer run transfer_scored.parquet --out benchmarks/results [--bootstrap 1000]

Splits (always by article, ``benchmarks.transfer.data``):

- leave one domain out: train on the English rows of two of xsum, squad, writing (open and chat models), test
  on the third (squad holds base-model text only);
- leave one chat model out: articles in two halves; train on one half without that model, test on the other
  half's rows of that model and its human rows, then the halves swapped, decisions pooled;
- family: train on base-model pairs, test on chat-model pairs of the other half (and the reverse).

Every arm sets its threshold at 1% FPR on the human rows of its training side, scored out of fold (by models fitted
on the other half of the training articles); the test reports AUROC, TPR at that threshold and the realised human
FPR, with 95% bootstrap intervals over test articles, and the share of
non-English human text (``human/multilingual``) the arm trained on all English rows would remove.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.transfer.data import input_note
from detectors.classifier.metrics import auroc
from detectors.classifier.train import text_vectorizer
from detectors.surface.style import style_features
from filterkit.stage.rules import threshold_for_fpr

log = logging.getLogger("transfer")
FPR = 0.01
LM_COLUMNS = ("lm.loglik", "lm.logrank", "lm.entropy", "lm.fastdetect", "lm.gltr_top1", "lm.gltr_top10",
              "lm.gltr_top100", "lm.gltr_top1000")
LM_COLUMNS_ALL = ("lm.ntokens",)
"""Columns read but not used as features on their own."""
CHAT = ("gpt-3.5-turbo", "gpt-4", "claude-3-sonnet-20240229", "gemini-1.5-pro")


@dataclass
class Data:
    """The scored transfer set as arrays."""

    y: np.ndarray
    domain: np.ndarray
    generator: np.ndarray
    family: np.ndarray
    source: np.ndarray
    article: np.ndarray
    language: np.ndarray
    lm: np.ndarray
    extra: np.ndarray
    """The ``LM_COLUMNS_ALL`` columns."""
    states: np.ndarray
    """``lm.hidden`` (pooled hidden states) where the file has it, else an empty (rows, 0) array."""
    style: np.ndarray
    texts: list[str]

    def take(self, mask: np.ndarray) -> Data:
        """The rows where ``mask`` holds."""
        idx = np.flatnonzero(mask)
        return Data(**{k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx])
                       for k, v in self.__dict__.items()})


def load(path: Path) -> Data:
    """The gathered transfer set (``python -m benchmarks.transfer data gather``)."""
    t = pq.read_table(path)
    col = lambda c: np.asarray(t[c].to_pylist())  # noqa: E731
    texts = t["text"].to_pylist()
    return Data(y=col("label") == "machine", domain=col("domain"), generator=col("generator"), family=col("family"),
                source=col("source"), article=np.asarray(t["article"].to_numpy(), dtype=np.uint64),
                language=col("language"),
                lm=np.column_stack([t[c].to_numpy(zero_copy_only=False).astype(float) for c in LM_COLUMNS]),
                extra=np.column_stack([t[c].to_numpy(zero_copy_only=False).astype(float) for c in LM_COLUMNS_ALL]),
                states=_states(t),
                style=style_features(texts), texts=texts)


def _states(t: Any) -> np.ndarray:
    if "lm.hidden" not in t.column_names:
        return np.zeros((t.num_rows, 0))
    column = t["lm.hidden"].combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(t.num_rows, -1)


def without_top_components(k: int) -> Callable[[Data, Data], Callable[[Data], np.ndarray]]:
    """Pooled states less their projection on the top ``k`` principal components of the training rows' states.

    The leading directions of pooled states carry topic, domain and language, which a held-out domain does not
    share; what is left is what the rows differ by within those.
    """
    def fit(train: Data) -> Callable[[Data], np.ndarray]:
        x = train.states[~np.isnan(train.states).any(axis=1)]
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        top = vt[:k]
        return lambda d: (d.states - mean) - (d.states - mean) @ top.T @ top
    return fit


def with_states(C: float, remove: int | None) -> Arm:
    """LM columns and pooled hidden states (optionally with the top ``remove`` components projected out)."""
    def fit(train: Data) -> Scorer:
        transform = without_top_components(remove)(train) if remove else (lambda d: d.states)
        features = lambda d: np.hstack([d.lm, transform(d)])  # noqa: E731
        return stacked(features, C)(train)
    return fit


Scorer = Callable[[Data], np.ndarray]
Arm = Callable[[Data], Scorer]
"""Fits on training rows and returns a scorer: higher means more machine-like."""


def zero_shot(column: int) -> Arm:
    """One LM column, its direction taken from the training rows (no other fitting)."""
    def fit(train: Data) -> Scorer:
        sign = 1.0 if auroc(train.y, train.lm[:, column]) >= 0.5 else -1.0
        return lambda d: sign * d.lm[:, column]
    return fit


def length_normalised(column: int) -> Arm:
    """One LM column less what the training humans' scores predict from the text's length (log tokens)."""
    ntok = LM_COLUMNS_ALL.index("lm.ntokens")

    def fit(train: Data) -> Scorer:
        human = ~train.y & ~np.isnan(train.lm[:, column])
        x = np.log1p(train.extra[human, ntok])
        slope, intercept = np.polyfit(x, train.lm[human, column], 1)
        sign = 1.0 if auroc(train.y, train.lm[:, column]) >= 0.5 else -1.0
        return lambda d: sign * (d.lm[:, column] - (slope * np.log1p(d.extra[:, ntok]) + intercept))
    return fit


def stacked(features: Callable[[Data], np.ndarray], C: float) -> Arm:
    """Impute, scale, logistic regression with inverse regularisation ``C``; NaN where the LM abstained."""
    def fit(train: Data) -> Scorer:
        model = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                          ("model", LogisticRegression(C=C, max_iter=5000))]).fit(features(train), train.y)

        def score(d: Data) -> np.ndarray:
            # A text the LM could not judge (every LM column NaN) gets no score rather than an imputed one.
            return np.where(np.isnan(d.lm).all(axis=1), np.nan, model.decision_function(features(d)))
        return score
    return fit


def text_head(C: float = 4.0) -> Arm:
    """Hashed word and character n-grams, logistic regression (the classifier's text head)."""
    def fit(train: Data) -> Scorer:
        vec = text_vectorizer()
        model = LogisticRegression(C=C, solver="liblinear", max_iter=2000).fit(vec.transform(train.texts), train.y)
        return lambda d: model.decision_function(vec.transform(d.texts))
    return fit


def arms(with_hidden: bool = False) -> dict[str, Arm]:
    """Every configuration the protocol compares."""
    lm = lambda d: d.lm  # noqa: E731
    lm_style = lambda d: np.hstack([d.lm, d.style])  # noqa: E731
    out: dict[str, Arm] = {f"zero-shot {c}": zero_shot(i) for i, c in enumerate(LM_COLUMNS)}
    out |= {f"length-normalised {c}": length_normalised(LM_COLUMNS.index(c)) for c in ("lm.loglik", "lm.fastdetect")}
    out |= {"stacked lm, C=1": stacked(lm, 1.0), "stacked lm, C=0.01": stacked(lm, 0.01),
            "stacked lm+style, C=1 (today's --stack lm)": stacked(lm_style, 1.0),
            "stacked lm+style, C=0.01": stacked(lm_style, 0.01), "text head": text_head()}
    if with_hidden:
        out |= {"lm + hidden states, C=0.01": with_states(0.01, None),
                "lm + hidden states less their top 16 components, C=0.01": with_states(0.01, 16),
                "lm + hidden states less their top 64 components, C=0.01": with_states(0.01, 64)}
    return out


def splits(d: Data) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Held-out group -> folds of (train mask, test mask)."""
    english = d.source != "multilingual"
    half = (d.article >> np.uint64(20)) % np.uint64(2) == 0
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for dom in ("xsum", "squad", "writing"):
        out[f"domain: {dom}"] = [(english & (d.domain != dom), english & (d.domain == dom))]
    chat_article = np.isin(d.article, d.article[d.source == "chat"])
    for g in CHAT:
        out[f"chat model: {g}"] = [(english & (h if k else ~h) & (d.generator != g),
                                    english & (~h if k else h) & chat_article & ((d.generator == g) | ~d.y))
                                   for k, h in ((1, half), (0, half))]
    out["family: base -> chat"] = [(english & (h if k else ~h) & (d.family != "chat") & (d.source == "open"),
                                    english & (~h if k else h) & (d.source == "chat"))
                                   for k, h in ((1, half), (0, half))]
    out["family: chat -> base"] = [(english & (h if k else ~h) & (d.source == "chat"),
                                    english & (~h if k else h) & (d.source == "open"))
                                   for k, h in ((1, half), (0, half))]
    return out


def out_of_fold(arm: Arm, train: Data) -> np.ndarray:
    """Scores of the training rows from models fitted on the other half of the training articles.

    A threshold set on the scores a model gives its own training rows is too tight for a model that can fit them
    (1,728 hidden-state features can), so thresholds come from these out-of-fold scores.
    """
    half = (train.article >> np.uint64(21)) % np.uint64(2) == 0
    scores = np.full(len(train.y), np.nan)
    for part in (half, ~half):
        if part.any() and (~part).any():
            scores[part] = arm(train.take(~part))(train.take(part))
    return scores


def evaluate(d: Data, arm: Arm, folds: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator,
             bootstrap: int) -> dict[str, object]:
    """Pooled test metrics of one arm on one held-out group, with bootstrap intervals over test articles."""
    margins, ys, articles = [], [], []
    for train_mask, test_mask in folds:
        train, test = d.take(train_mask), d.take(test_mask)
        scorer = arm(train)
        threshold = threshold_for_fpr(out_of_fold(arm, train)[~train.y], FPR, ">=")
        # Each fold's scores less its own threshold: pooled, "flagged" is margin >= 0 whichever fold it came from.
        margins.append(scorer(test) - threshold)
        ys.append(test.y)
        articles.append(test.article)
    m, y, a = np.concatenate(margins), np.concatenate(ys), np.concatenate(articles)
    m = np.nan_to_num(m, nan=-np.inf)  # an abstaining score never flags

    def stats(idx: np.ndarray) -> tuple[float, float, float]:
        yy, mm = y[idx], m[idx]
        return (auroc(yy, np.where(np.isinf(mm), np.nan, mm)), float(np.mean(mm[yy] >= 0)),
                float(np.mean(mm[~yy] >= 0)))

    point = stats(np.arange(len(y)))
    unique = np.unique(a)
    rows_of = {u: np.flatnonzero(a == u) for u in unique}
    draws = np.array([stats(np.concatenate([rows_of[u] for u in rng.choice(unique, len(unique))]))
                      for _ in range(bootstrap)])
    ci = lambda k: [float(np.nanpercentile(draws[:, k], 2.5)), float(np.nanpercentile(draws[:, k], 97.5))]  # noqa: E731
    return {"auroc": point[0], "auroc_ci": ci(0), "tpr": point[1], "tpr_ci": ci(1), "fpr": point[2],
            "fpr_ci": ci(2), "machine_rows": int(y.sum()), "human_rows": int((~y).sum()),
            "articles": int(len(unique))}


def multilingual_fpr(d: Data, arm: Arm) -> dict[str, float]:
    """Share of non-English human text removed by the arm trained on every English row, per language."""
    english = d.take(d.source != "multilingual")
    scorer = arm(english)
    threshold = threshold_for_fpr(out_of_fold(arm, english)[~english.y], FPR, ">=")
    multi = d.take(d.source == "multilingual")
    flagged = np.nan_to_num(scorer(multi) - threshold, nan=-np.inf) >= 0
    out = {"all": float(flagged.mean()), "rows": int(len(flagged))}
    return out | {lang: float(flagged[multi.language == lang].mean()) for lang in sorted(set(multi.language))}


def main(argv: Sequence[str]) -> None:
    """Run every arm on every held-out group and write JSON, Markdown and a plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer run", description=__doc__.split("\n")[0])
    parser.add_argument("scored", type=Path, help="the gathered transfer set, or with --render a transfer.json")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", action="store_true", help="rewrite transfer.md and .png from a transfer.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.render:
        payload = json.loads(args.scored.read_text(encoding="utf-8"))
        (args.out / "transfer.md").write_text(markdown(payload), encoding="utf-8")
        plot(payload, args.out / "transfer.png")
        return
    d = load(args.scored)
    rng = np.random.default_rng(args.seed)
    groups = splits(d)
    results: dict[str, dict] = {}
    for name, arm in arms(with_hidden=d.states.shape[1] > 0).items():
        log.info("arm %s", name)
        results[name] = {"groups": {g: evaluate(d, arm, folds, rng, args.bootstrap) for g, folds in groups.items()},
                         "multilingual_removed": multilingual_fpr(d, arm)}
        tprs = [r["tpr"] for r in results[name]["groups"].values()]
        results[name]["mean_tpr"], results[name]["worst_tpr"] = float(np.mean(tprs)), float(np.min(tprs))
        results[name]["worst_fpr"] = float(max(r["fpr"] for r in results[name]["groups"].values()))
    command = "python -m benchmarks.transfer run " + " ".join(argv)
    payload = {"command": command, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "input": input_note(args.scored), "rows": int(len(d.y)), "arms": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transfer.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (args.out / "transfer.md").write_text(markdown(payload), encoding="utf-8")
    plot(payload, args.out / "transfer.png")
    log.info("wrote %s", args.out / "transfer.md")


MAX_FPR = 0.02
"""An arm whose realised FPR exceeds this on any held-out group did not hold its threshold."""


def _worst_fpr(arm: dict) -> float:
    return max(r["fpr"] for r in arm["groups"].values())


def _cell(r: dict) -> str:
    return f"{r['auroc']:.2f} / {r['tpr']:.2f} [{r['tpr_ci'][0]:.2f}, {r['tpr_ci'][1]:.2f}] / {r['fpr']:.3f}"


def markdown(payload: dict) -> str:
    """One table per held-out group family, arms as rows; the ranking by mean TPR over held-out groups."""
    arms_ = payload["arms"]
    groups = list(next(iter(arms_.values()))["groups"])
    lines = ["# Transfer: detectors on generators and domains they never saw", "", "```", payload["command"], "```",
             "", *([payload["input"], ""] if "input" in payload else []),
             f"Machine: {payload['machine']}. {payload['rows']} rows (`benchmarks.transfer.data`). Each cell: "
             "AUROC / TPR at the threshold that removes 1% of the training side's human rows (scored out of fold) "
             "[95% bootstrap interval over test articles] / the realised FPR on the test humans.", ""]
    for g in groups:
        first = next(iter(arms_.values()))["groups"][g]
        lines += [f"## Held out: {g}", "", f"{first['machine_rows']} machine and {first['human_rows']} human test "
                  f"rows from {first['articles']} articles.", "", "| arm | AUROC / TPR [CI] / FPR |", "|---|---|"]
        lines += [f"| {name} | {_cell(a['groups'][g])} |" for name, a in arms_.items()]
        lines.append("")
    lines += ["## Ranking", "", "A threshold that holds its FPR only on the training side removes human text "
              f"elsewhere, so arms whose realised FPR stays within {MAX_FPR:.0%} on every held-out group rank first "
              "(by mean TPR), the others after them. Non-English: the share of the non-English human rows the arm "
              "trained on every English row removes.", "",
              "| arm | FPR held everywhere | mean TPR | worst TPR | worst realised FPR | non-English human removed "
              "(all; per language) |", "|---|---|---:|---:|---:|---|"]
    for name, a in sorted(arms_.items(), key=lambda kv: (_worst_fpr(kv[1]) > MAX_FPR, -kv[1]["mean_tpr"])):
        m = a["multilingual_removed"]
        per = ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k not in ("all", "rows"))
        held = "yes" if _worst_fpr(a) <= MAX_FPR else "no"
        lines.append(f"| {name} | {held} | {a['mean_tpr']:.3f} | {a['worst_tpr']:.3f} | {_worst_fpr(a):.3f} | "
                     f"{m['all']:.3f} ({per}) |")
    return "\n".join(lines) + "\n"


def plot(payload: dict, path: Path) -> None:
    """TPR at 1% training FPR per arm and held-out group, with the bootstrap intervals."""
    from matplotlib.figure import Figure

    arms_ = payload["arms"]
    groups = list(next(iter(arms_.values()))["groups"])
    fig = Figure(figsize=(12, 0.45 * len(arms_) + 2))
    ax = fig.add_subplot(1, 1, 1)
    height = 0.8 / len(groups)
    for j, g in enumerate(groups):
        ys = np.arange(len(arms_)) + j * height
        tpr = np.array([a["groups"][g]["tpr"] for a in arms_.values()])
        lo = np.array([a["groups"][g]["tpr_ci"][0] for a in arms_.values()])
        hi = np.array([a["groups"][g]["tpr_ci"][1] for a in arms_.values()])
        ax.barh(ys, tpr, height=height, xerr=[tpr - lo, hi - tpr], label=g, error_kw={"lw": 0.6})
    ax.set_yticks(np.arange(len(arms_)) + 0.4 - height / 2)
    ax.set_yticklabels(list(arms_), fontsize=8)
    ax.set_xlabel("TPR at 1% FPR (threshold from the training side's humans)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    fig.subplots_adjust(left=0.3, right=0.98, top=0.98, bottom=0.08)
    fig.savefig(path, dpi=100)

