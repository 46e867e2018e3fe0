"""The transfer protocol: feature arms judged on what they never saw, out of the box and calibrated.

    python -m benchmarks.transfer protocol --work benchmarks/results/_work/protocol --out benchmarks/results

Data: the four labelled shared files (base models, chat models, ImBD, essays; 17 generators and ``human``) and
``human/news_wiki_stories`` as extra human text, texts layout-normalised (``detectors.classifier.layout``), split
by article (``benchmarks.transfer.protocol_data``). Axes, each value held out in turn:

- source (open_models, chat_models, imbd, essays) and domain (xsum, squad, writing, essays): train on every other
  row whose article is not in the held-out rows, test on the held-out rows;
- generator family (vendor) and job (generation, polish, rewrite, expand): articles in two halves by hash; train
  on half 0 without the held-out machine rows, test on half 1's held-out machine rows and their articles' humans.

Training uses English rows of the jobs ``generation`` and ``expand`` (and the extra humans): polished and
rewritten human texts are reported apart (flag rate at the threshold, the job axis holds them out) and never
trained on, and non-English rows are only tested. Two threshold regimes side by side: **out of the box** (1% FPR
on the training side's humans scored out of fold, 3 folds by article) and **calibrated** on 200 human texts (200
articles) of the held-out side, measured on the rest. AUROC, TPR and realised FPR with 95% bootstrap intervals
over test articles; the calibrated intervals redraw the 200 calibration humans too. Non-English human FPR is
measured with each arm trained on every English row (the shipped configuration), at its out-of-fold threshold.
The raw-count n-gram arm (the TF-IDF ablation, ``--short-arms``) runs on the source and domain axes only.
Embeddings and the LM's features (``benchmarks.transfer.lm_features``) are cached by text hash under ``--work`` and
every finished split is saved there, so a rerun resumes. The LM runs ~3 texts/s here, so its arms run on a share of
the articles (``--article-share``, every arm of the run on the same rows) with fewer calibration humans
(``--calibration``), named apart (``--name``).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from benchmarks.transfer.distort import distorted_vectorizer
from benchmarks.transfer.lm_features import LMEncoder, split_features
from benchmarks.transfer.protocol_data import FAMILIES, EmbeddingCache, Rows, article_sample, load_rows
from benchmarks.transfer.protocol_report import machine, markdown, plot, summarise, write_report
from detectors.classifier.embed import Encoder
from detectors.classifier.language import DEFAULT_LANGUAGES, unjudged_reasons
from detectors.classifier.ngram_lm import combine
from detectors.classifier.train import text_vectorizer
from detectors.surface.style import style_features
from filterkit.stage.rules import threshold_for_fpr

log = logging.getLogger("transfer.protocol")
FPR = 0.01
CALIBRATION = 200
TRAIN_JOBS = ("generation", "expand", "human")
HUMAN_DERIVED = ("polish", "rewrite")
Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Arm:
    """A feature set and its logistic regression's C."""

    features: tuple[str, ...]
    C: float = 1.0

    @property
    def name(self) -> str:
        return "+".join(self.features) + f" C={self.C:g}"


ARMS = {
    "ngram": Arm(("ngram",), 4.0),
    "ngram_idf": Arm(("ngram_idf",), 4.0),
    "style": Arm(("style",), 1.0),
    "embed": Arm(("embed",), 1.0),
    "embed_c01": Arm(("embed",), 0.1),
    "embed_style": Arm(("embed", "style"), 1.0),
    "embed_ngram_idf": Arm(("ngram_idf", "embed"), 4.0),
    "lm": Arm(("lm",), 1.0),
    "hidden": Arm(("hidden",), 1.0),
    "hidden_c01": Arm(("hidden",), 0.1),
    "hidden_lm": Arm(("hidden", "lm"), 1.0),
    "ngram_idf_lm": Arm(("ngram_idf", "lm"), 4.0),
    "ngram_idf_hidden_lm": Arm(("ngram_idf", "hidden", "lm"), 4.0),
    "dv_idf": Arm(("dv_idf",), 4.0),
    "ngram_idf_dv_idf": Arm(("ngram_idf", "dv_idf"), 4.0),
}
DENSE = ("embed", "style", "lm", "hidden")
SPARSE = ("ngram", "dv")


class Features:
    """Every row's features, computed once: hashed n-gram counts of the text and of its distorted form
    (``benchmarks.transfer.distort``), embeddings, style statistics, and the LM's statistics and hidden states
    (NaN where the LM abstains: the mean of the training rows after scaling)."""

    def __init__(self, rows: Rows, cache: EmbeddingCache | None, need_ngram: bool,
                 lm_cache: EmbeddingCache | None = None, need_dv: bool = False) -> None:
        empty = np.zeros((len(rows), 0), np.float32)
        self.embed = cache.get(rows.text) if cache is not None else empty
        self.style = style_features(rows.text)
        self.ngram = sparse.csr_matrix(text_vectorizer().transform(rows.text)) if need_ngram else None
        self.dv = sparse.csr_matrix(distorted_vectorizer().transform(rows.text)) if need_dv else None
        self.lm, self.hidden = split_features(lm_cache.get(rows.text)) if lm_cache is not None else (empty, empty)

    def fit(self, arm: Arm, train: np.ndarray, y: np.ndarray, seed: int = 0) -> Scorer:
        """Fit ``arm`` on rows ``train`` (labels ``y``); return a decision-value scorer of row indices."""
        model, build = self.fit_model(arm, train, y, seed)
        return lambda idx: model.decision_function(build(idx))

    def fit_model(self, arm: Arm, train: np.ndarray, y: np.ndarray,
                  seed: int = 0) -> tuple[LogisticRegression, Callable[[np.ndarray], Any]]:
        """Fit ``arm`` on rows ``train``; return the regression and the builder of its inputs from row indices."""
        dense = [f for f in arm.features if f in DENSE]
        scaler = StandardScaler().fit(self._dense(dense, train)) if dense else None
        idf = {k: TfidfTransformer(sublinear_tf=True).fit(getattr(self, k)[train])
               for k in SPARSE if f"{k}_idf" in arm.features}

        def build(idx: np.ndarray) -> Any:
            parts: list[Any] = []
            for k in SPARSE:
                if k in arm.features:
                    parts.append(getattr(self, k)[idx])
                if k in idf:
                    parts.append(idf[k].transform(getattr(self, k)[idx]))
            return combine(parts, scaler.transform(self._dense(dense, idx)) if scaler is not None else None)

        solver = "liblinear" if any(f.split("_")[0] in SPARSE for f in arm.features) else "lbfgs"
        model = LogisticRegression(C=arm.C, solver=solver, max_iter=3000, random_state=seed).fit(build(train), y)
        return model, build

    def _dense(self, names: list[str], idx: np.ndarray) -> np.ndarray:
        return np.hstack([getattr(self, n)[idx] for n in names])


def feature_caches(features: set[str], work: Path, threads: int) -> tuple[EmbeddingCache | None,
                                                                          EmbeddingCache | None]:
    """The MiniLM embedding cache and the LM feature cache under ``work``, each only where ``features`` need it."""
    cache = EmbeddingCache(work / "emb", Encoder(threads=threads)) if "embed" in features else None
    lm_cache = (EmbeddingCache(work / "lm", LMEncoder(threads=threads), chunk=256)
                if features & {"lm", "hidden"} else None)
    return cache, lm_cache


def arm_features(rows: Rows, used: set[str], cache: EmbeddingCache | None,
                 lm_cache: EmbeddingCache | None) -> Features:
    """The features of ``rows`` that arms reading the feature names ``used`` need."""
    return Features(rows, cache, bool(used & {"ngram", "ngram_idf"}), lm_cache, bool(used & {"dv", "dv_idf"}))


def out_of_fold_threshold(feats: Features, arm: Arm, rows: Rows, train: np.ndarray, folds: int = 3) -> float:
    """The 1% FPR threshold on the training humans' out-of-fold scores (folds by article)."""
    fold = (rows.article[train] % np.uint64(folds)).astype(int)
    human_scores = []
    for k in range(folds):
        fit_idx, held = train[fold != k], train[fold == k]
        held = held[~rows.y[held]]
        human_scores.append(feats.fit(arm, fit_idx, rows.y[fit_idx])(held))
    return threshold_for_fpr(np.concatenate(human_scores), FPR, ">=")


@dataclass
class Split:
    """One held-out value: training rows, test rows, the calibration pool (held-out side humans)."""

    axis: str
    value: str
    train: np.ndarray
    test: np.ndarray
    calib_pool: np.ndarray


def _trainable(rows: Rows) -> np.ndarray:
    return (rows.language == "en") & np.isin(rows.job, TRAIN_JOBS)


def splits(rows: Rows) -> list[Split]:
    """Every held-out value of the four axes."""
    out = []
    en = rows.language == "en"
    trainable = _trainable(rows)
    for axis, column, values in (("source", rows.source, ("open_models", "chat_models", "imbd", "essays")),
                                 ("domain", rows.domain, ("xsum", "squad", "writing", "essays"))):
        for v in values:
            held = column == v  # ImBD's non-English rows too: reported apart
            arts = np.unique(rows.article[held])
            out_art = np.isin(rows.article, arts)
            train = np.flatnonzero(trainable & (column != v) & ~out_art)
            test = np.flatnonzero(held)
            out.append(Split(axis, v, train, test, np.flatnonzero(held & en & ~rows.y)))
    half = (rows.article // np.uint64(7)) % np.uint64(2) == 1
    for axis, column, values in (("family", rows.family, sorted(set(FAMILIES.values()))),
                                 ("job", rows.job, ("generation", "polish", "rewrite", "expand"))):
        for v in values:
            machine = (column == v) & rows.y & en
            train = np.flatnonzero(trainable & ~half & ~machine)
            test_machine = machine & half
            arts = np.unique(rows.article[test_machine])
            paired_humans = ~rows.y & en & half & np.isin(rows.article, arts)
            out.append(Split(axis, v, train, np.flatnonzero(test_machine | paired_humans),
                             np.flatnonzero(~rows.y & en & half)))
    return out


def article_weights(articles: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    """``(reps, rows)`` bootstrap weights: each replicate draws the test articles with replacement."""
    uniq, inv = np.unique(articles, return_inverse=True)
    counts = rng.multinomial(len(uniq), np.full(len(uniq), 1.0 / len(uniq)), size=reps)
    return counts[:, inv]


def _rates(y: np.ndarray, s: np.ndarray, t: float, w: np.ndarray | None = None,
           auroc: bool = True) -> dict[str, float]:
    w = np.ones(len(y)) if w is None else w
    flag = s >= t
    out = {"tpr": float(np.sum(w * (flag & y)) / max(np.sum(w * y), 1e-12)),
           "fpr": float(np.sum(w * (flag & ~y)) / max(np.sum(w * ~y), 1e-12))}
    if auroc:  # the costly part, and the same at every threshold
        out["auroc"] = (float(roc_auc_score(y, s, sample_weight=w)) if 0 < np.sum(w * y) < np.sum(w)
                        else float("nan"))
    return out


def percentile_ci(values: list[float]) -> list[float]:
    """The 95% percentile interval of bootstrap values (NaN dropped)."""
    v = np.asarray(values)
    v = v[~np.isnan(v)]
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v.size else [float("nan")] * 2


def trusted_humans(rows: Rows, split: Split, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` human rows of the held-out side's calibration pool, one per article, drawn at random."""
    first: dict[int, int] = {}
    for i in rng.permutation(split.calib_pool):
        first.setdefault(int(rows.article[i]), int(i))
    return np.array(list(first.values())[:n], dtype=int)


def evaluate(rows: Rows, split: Split, scores: dict[int, float], threshold: float, reps: int,
             seed: int, calibration: int = CALIBRATION) -> dict[str, Any]:
    """Both regimes on one split, with bootstrap intervals (``calibration`` humans set the calibrated threshold)."""
    rng = np.random.default_rng(seed)
    score = lambda idx: np.array([scores[i] for i in idx])  # noqa: E731
    main = split.test[rows.language[split.test] == "en"]
    derived = np.isin(rows.job[main], HUMAN_DERIVED) & rows.y[main]
    headline = main[~derived] if split.value not in HUMAN_DERIVED else main
    y, s = rows.y[headline], score(headline)
    res: dict[str, Any] = {"machine_rows": int(y.sum()), "human_rows": int((~y).sum()),
                           "articles": int(len(np.unique(rows.article[headline]))), "threshold": threshold}
    oob = _rates(y, s, threshold)
    boots = [_rates(y, s, threshold, w) for w in article_weights(rows.article[headline], rng, reps)]
    res["out_of_box"] = {**oob, **{f"{k}_ci": percentile_ci([b[k] for b in boots]) for k in oob}}
    if derived.any() and split.value not in HUMAN_DERIVED:
        d = main[derived]
        res["human_derived_flagged"] = float(np.mean(score(d) >= threshold))
    # Calibrated: `calibration` humans (one per article) of the held-out side set the threshold; the rest measure it.
    cal = trusted_humans(rows, split, rng, calibration)
    rest = headline[~np.isin(rows.article[headline], rows.article[cal])] if cal.size else headline
    yr = rows.y[rest]
    # A small sample's held-out side can lose a class to the calibration articles: no calibrated cell then.
    if len(np.unique(rows.article[split.calib_pool])) >= calibration + 50 and 0 < yr.sum() < yr.size:
        sr, sc = score(rest), score(cal)
        t_cal = threshold_for_fpr(sc, FPR, ">=")
        cal_res = _rates(yr, sr, t_cal)
        boots = []
        for w in article_weights(rows.article[rest], rng, reps):
            t_b = threshold_for_fpr(rng.choice(sc, size=sc.size, replace=True), FPR, ">=")
            boots.append(_rates(yr, sr, t_b, w))
        res["calibrated"] = {**cal_res, **{f"{k}_ci": percentile_ci([b[k] for b in boots]) for k in cal_res},
                             "threshold": float(t_cal), "calibration_humans": calibration,
                             "test_machine": int(yr.sum()), "test_human": int((~yr).sum())}
    other = split.test[rows.language[split.test] != "en"]
    if other.size:
        so = score(other)
        res["non_english"] = {lang: {"human_fpr": float(np.mean(so[(rows.language[other] == lang) & ~rows.y[other]]
                                                               >= threshold)),
                                     "machine_flagged": float(np.mean(so[(rows.language[other] == lang)
                                                                         & rows.y[other]] >= threshold))}
                              for lang in sorted(set(rows.language[other]))}
    return res


def run_arm(name: str, arm: Arm, rows: Rows, foreign_feats: Features | None, feats: Features,
            split_list: list[Split], reps: int, state: Path, calibration: int = CALIBRATION) -> dict[str, Any]:
    """Every split for one arm (resumable: each finished split is saved under ``state``)."""
    out: dict[str, Any] = {"arm": arm.name, "splits": {}}
    for k, sp in enumerate(split_list):
        key = f"{sp.axis}:{sp.value}"
        file = state / f"{name}__{sp.axis}__{sp.value}.json"
        if file.is_file():
            out["splits"][key] = json.loads(file.read_text())
            continue
        start = time.time()
        threshold = out_of_fold_threshold(feats, arm, rows, sp.train)
        scorer = feats.fit(arm, sp.train, rows.y[sp.train])
        scored = np.union1d(sp.test, sp.calib_pool)
        s = scorer(scored)
        res = evaluate(rows, sp, dict(zip(scored.tolist(), s.tolist(), strict=True)), threshold, reps, seed=k,
                       calibration=calibration)
        res["train_rows"] = int(sp.train.size)
        file.write_text(json.dumps(res))
        out["splits"][key] = res
        log.info("%s %s: AUROC %.3f TPR %.3f FPR %.3f (%.0f s)", name, key, res["out_of_box"]["auroc"],
                 res["out_of_box"]["tpr"], res["out_of_box"]["fpr"], time.time() - start)
    file = state / f"{name}__ship.json"
    if file.is_file():
        out["ship"] = json.loads(file.read_text())
    else:
        train = np.flatnonzero(_trainable(rows))
        threshold = out_of_fold_threshold(feats, arm, rows, train)
        ship: dict[str, Any] = {"threshold": threshold, "train_rows": int(train.size)}
        if foreign_feats is not None:
            scorer = feats.fit(arm, train, rows.y[train])
            # Score the non-English rows with the same fitted model, through a combined index space.
            ship["multilingual_human_fpr"] = _foreign(scorer, feats, foreign_feats, threshold)
        file.write_text(json.dumps(ship))
        out["ship"] = ship
    return out


def _foreign(scorer: Scorer, feats: Features, foreign: Features, threshold: float) -> dict[str, float]:
    """Score foreign rows by appending their features to the feature table for one call, then restoring it."""
    n = len(feats.style)
    saved = {k: getattr(feats, k) for k in (*DENSE, *SPARSE)}
    try:
        for k in DENSE:
            setattr(feats, k, np.vstack([getattr(feats, k), getattr(foreign, k)]))
        for k in SPARSE:
            if getattr(feats, k) is not None:
                setattr(feats, k, sparse.vstack([getattr(feats, k), getattr(foreign, k)]).tocsr())
        s = scorer(np.arange(n, n + len(foreign.style)))
    finally:
        for k, v in saved.items():
            setattr(feats, k, v)
    langs = foreign.languages
    out = {"all": float(np.mean(s >= threshold))}
    out.update({lang: float(np.mean(s[langs == lang] >= threshold)) for lang in sorted(set(langs))})
    # With the detector's language gate (py3langid; only text identified as English is scored), as it runs.
    judged = np.array([r is None for r in unjudged_reasons(foreign.texts, DEFAULT_LANGUAGES, 0)])
    out["all_gated"] = float(np.mean((s >= threshold) & judged))
    return out

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer protocol", description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/_work/protocol"),
                        help="embedding cache and per-split state (resumable)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {list(ARMS)}")
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--axes", default="source,domain,family,job", help="comma-separated axes")
    parser.add_argument("--short-arms", default="ngram",
                        help="arms run on the source and domain axes only: ablations of a better arm (raw n-gram "
                             "counts against TF-IDF), whose fits take ~3x a dense arm's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--article-share", type=float, default=1.0,
                        help="run on the rows of this share of the articles (the LM arms' cost)")
    parser.add_argument("--calibration", type=int, default=CALIBRATION, help="calibration humans per held-out side")
    parser.add_argument("--name", default="transfer_protocol", help="report stem; state under WORK/state_NAME")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    names = [a for a in args.arms.split(",") if a]
    rows, foreign = load_rows()
    rows, foreign = rows.take(article_sample(rows, args.article_share)), foreign.take(
        article_sample(foreign, args.article_share))
    used = {f for n in names for f in ARMS[n].features}
    cache, lm_cache = feature_caches(used, args.work, args.threads)
    feats, foreign_feats = (arm_features(r, used, cache, lm_cache) for r in (rows, foreign))
    foreign_feats.languages = foreign.language  # type: ignore[attr-defined]
    foreign_feats.texts = foreign.text  # type: ignore[attr-defined]
    axes, short = set(args.axes.split(",")), set(args.short_arms.split(","))
    all_splits = splits(rows)
    state = args.work / ("state" if args.name == "transfer_protocol" else f"state_{args.name}")
    state.mkdir(parents=True, exist_ok=True)
    arms = {}
    for n in names:
        wanted = axes & {"source", "domain"} if n in short else axes
        split_list = [sp for sp in all_splits if sp.axis in wanted]
        arms[n] = run_arm(n, ARMS[n], rows, foreign_feats, feats, split_list, args.bootstrap, state,
                          args.calibration)
        arms[n]["summary"] = summarise(arms[n])
    command = ("python -m benchmarks.transfer protocol " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    payload = {"command": command, **machine(), "rows": len(rows), "foreign_rows": len(foreign),
               "article_share": args.article_share, "calibration": args.calibration, "arms": arms}
    write_report(args.out, args.name, payload, markdown, plot)
    return 0
