"""Calibration that adapts: the held-out side's trusted humans train the model, not only set its cut.

    python -m benchmarks.transfer adapt --arms ngram_idf --repeat 1,10,30 --replay 2000,4000

The protocol's calibrated regime (``benchmarks.transfer.protocol``) takes 200 trusted human texts of the held-out
side, one per article, and sets the 1% threshold on their scores. Here the same texts also train. They are split
in two halves by article; the model refitted on the training side plus one half (each text repeated ``r`` times,
so that 100 texts weigh against the training side's ~8,000 humans) scores the other half, and the threshold is 1%
of those out-of-fold scores. Each test row is scored by one of the two models, chosen by its article's parity, so
threshold and test scores come from the same kind of model (cross-fitting). Side by side, on the same 200 texts:
``plain``, the protocol's calibration (the training side's model, threshold on the 200 scores); and the two ways a
shipped model, which does not carry its training data, could adapt on a user's machine: ``laplace``, the update
made without the training rows (``laplace``, below), and ``replayN``, a refit on N training rows drawn at random
plus the trusted texts, each repeated so that they keep their share of the weight (``--repeat 0``: the N rows
alone, calibrated as ``plain``).

Reported per held-out value: AUROC, TPR and realised FPR on the rest of the held-out side (English, polished and
rewritten human text apart as in the protocol), 95% bootstrap intervals over test articles with the 200 texts
fixed (redrawing them would refit every model per replicate). Each finished split is saved under ``--work``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from benchmarks.transfer.protocol import (
    ARMS,
    CALIBRATION,
    FPR,
    HUMAN_DERIVED,
    Arm,
    Features,
    Scorer,
    Split,
    _rates,
    arm_features,
    article_weights,
    feature_caches,
    percentile_ci,
    splits,
    trusted_humans,
)
from benchmarks.transfer.protocol_data import Rows, load_rows
from benchmarks.transfer.protocol_report import axis_rows, machine, report_head, write_report
from filterkit.stage.rules import threshold_for_fpr

log = logging.getLogger("transfer.adapt")


def held_out_rows(rows: Rows, split: Split, trusted: np.ndarray) -> np.ndarray:
    """The held-out English rows outside the trusted texts' articles (human-derived machine rows apart)."""
    main = split.test[rows.language[split.test] == "en"]
    if split.value not in HUMAN_DERIVED:
        main = main[~(np.isin(rows.job[main], HUMAN_DERIVED) & rows.y[main])]
    return main[~np.isin(rows.article[main], rows.article[trusted])]


def cross_fitted(rows: Rows, trusted: np.ndarray, test: np.ndarray,
                 fit_with: Callable[[np.ndarray], Scorer]) -> tuple[float, np.ndarray]:
    """``(threshold, test scores)`` of two models, ``fit_with`` each half of the trusted texts (by article)."""
    half = (rows.article[trusted] % np.uint64(2)).astype(bool)
    test_half = (rows.article[test] % np.uint64(2)).astype(bool)
    out_of_fold, scores = np.empty(trusted.size), np.empty(test.size)
    for h in (False, True):
        model = fit_with(trusted[half == h])
        out_of_fold[half != h] = model(trusted[half != h])
        # A test row is scored by the model that did not see its half, as a trusted text of that half was.
        scores[test_half != h] = model(test[test_half != h])
    return threshold_for_fpr(out_of_fold, FPR, ">="), scores


def retrained(feats: Features, arm: Arm, rows: Rows, train: np.ndarray,
              repeat: int) -> Callable[[np.ndarray], Scorer]:
    """Refit on the rows ``train`` plus the given trusted texts, each repeated ``repeat`` times."""
    def fit_with(trusted: np.ndarray) -> Scorer:
        fit_idx = np.r_[train, np.repeat(trusted, repeat)]
        return feats.fit(arm, fit_idx, rows.y[fit_idx])
    return fit_with


def curvature(model: LogisticRegression, x: Any) -> np.ndarray:
    """The diagonal of the training objective's Hessian at the fitted weights, the intercept last."""
    p = model.predict_proba(x)[:, 1]
    v = p * (1 - p)
    square = x.multiply(x) if sparse.issparse(x) else np.square(x)
    # liblinear penalises the intercept like a weight on a constant feature; lbfgs leaves it free.
    prior = np.r_[np.ones(x.shape[1]), 1.0 if model.solver == "liblinear" else 0.0]
    return np.r_[np.asarray(square.T @ v).ravel(), v.sum()] * model.C + prior


def laplace(model: LogisticRegression, build: Callable[[np.ndarray], Any], h: np.ndarray,
            repeat: int) -> Callable[[np.ndarray], Scorer]:
    """Update the fitted regression with the given trusted texts as human, without its training rows.

    The training rows enter only through the diagonal of their loss's curvature at the fitted weights (a
    diagonal Laplace prior, as in elastic weight consolidation): minimise ``C * repeat * sum(log-loss of the
    trusted texts as human) + 1/2 sum_j h_j (theta_j - theta0_j)^2`` with ``h`` the diagonal of the training
    objective's Hessian, which is the retrained model's objective to second order with the training rows'
    cross terms dropped. A shipped model could carry ``h`` (one float per weight) and adapt on a user's machine.
    """
    c = model.C
    theta0 = np.r_[model.coef_.ravel(), model.intercept_]

    def fit_with(trusted: np.ndarray) -> Scorer:
        xt = sparse.csr_matrix(build(trusted))

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            z = xt @ theta[:-1] + theta[-1]
            g = c * repeat * expit(z)
            d = theta - theta0
            return (float(c * repeat * np.logaddexp(0, z).sum() + 0.5 * np.sum(h * d * d)),
                    np.r_[xt.T @ g, g.sum()] + h * d)

        theta = minimize(objective, theta0, jac=True, method="L-BFGS-B").x
        return lambda idx: build(idx) @ theta[:-1] + theta[-1]
    return fit_with


def measure(rows: Rows, test: np.ndarray, scores: np.ndarray, threshold: float, reps: int,
            seed: int) -> dict[str, Any]:
    """AUROC, TPR and FPR at ``threshold`` with bootstrap intervals over test articles."""
    y = rows.y[test]
    point = _rates(y, scores, threshold)
    boots = [_rates(y, scores, threshold, w) for w in article_weights(rows.article[test],
                                                                      np.random.default_rng(seed), reps)]
    return {**point, **{f"{k}_ci": percentile_ci([b[k] for b in boots]) for k in point}, "threshold": threshold}


def run_split(feats: Features, arm: Arm, rows: Rows, split: Split, k: int, repeats: list[int], reps: int,
              calibration: int, replays: tuple[int, ...] = ()) -> dict[str, Any]:
    """Plain, retrained, Laplace-updated and replay-refitted calibration on one held-out value, on the same
    trusted texts."""
    trusted = trusted_humans(rows, split, np.random.default_rng(k), calibration)
    test = held_out_rows(rows, split, trusted)
    res: dict[str, Any] = {"trusted": int(trusted.size), "test_machine": int(rows.y[test].sum()),
                           "test_human": int((~rows.y[test]).sum())}
    model, build = feats.fit_model(arm, split.train, rows.y[split.train])
    plain = model.decision_function(build(test)), model.decision_function(build(trusted))
    res["plain"] = measure(rows, test, plain[0], threshold_for_fpr(plain[1], FPR, ">="), reps, k)
    h = curvature(model, build(split.train))
    rng = np.random.default_rng(k)
    replay = {n: rng.choice(split.train, size=min(n, split.train.size), replace=False) for n in replays}
    for r in repeats:
        # At r = 0 the refit and the update are the plain model; the replay refit is the smaller model alone.
        fits = {f"adapted_x{r}": retrained(feats, arm, rows, split.train, r),
                f"laplace_x{r}": laplace(model, build, h, r)} if r else {}
        for n, sub in replay.items():
            # The trusted texts keep the share of the weight they have in the full refit.
            share = max(1, round(r * sub.size / split.train.size)) if r else 0
            fits[f"replay{n}_x{r}"] = retrained(feats, arm, rows, sub, share)
        for name, fit_with in fits.items():
            threshold, scores = cross_fitted(rows, trusted, test, fit_with)
            res[name] = measure(rows, test, scores, threshold, reps, k)
    return res


def summarise(split_results: dict[str, Any], regimes: list[str]) -> dict[str, Any]:
    """Per axis and regime: mean AUROC, mean and worst TPR, mean and worst FPR."""
    out: dict[str, Any] = {}
    for axis in dict.fromkeys(k.split(":")[0] for k in split_results):
        rs = [r for k, r in split_results.items() if k.startswith(axis + ":")]
        for g in regimes:
            xs = [r[g] for r in rs]
            tpr, fpr = [x["tpr"] for x in xs], [x["fpr"] for x in xs]
            out[f"{axis}/{g}"] = {"mean_auroc": float(np.mean([x["auroc"] for x in xs])),
                                  "mean_tpr": float(np.mean(tpr)), "min_tpr": float(np.min(tpr)),
                                  "mean_fpr": float(np.mean(fpr)), "max_fpr": float(np.max(fpr))}
    return out


def markdown(payload: dict[str, Any]) -> str:
    """The headline per arm, axis and regime, then every held-out value."""
    regimes = payload["regimes"]
    lines = [*report_head(
        "Calibration that adapts: trusted humans of the held-out side as training negatives", payload,
        f"{payload['rows']} rows. `plain`: the protocol's calibration (the training side's model, 1% threshold on "
        f"{payload['calibration']} trusted humans of the held-out side, one per article). `adapted_xR`: the same "
        "texts, in two halves by article, each half added to the training side (each text R times) to fit a model "
        "that scores the other half; threshold at 1% of those out-of-fold scores; each test row scored by the "
        "model that did not see its article's half. `laplace_xR`: the same cross-fitting, but each half updates the "
        "training side's model without its training rows (a diagonal Laplace prior at the fitted weights, the "
        "training rows' curvature only). `replayN_xR`: the same, refitted on N training rows drawn at random plus the "
        "trusted texts, repeated to keep their share of the weight. Measured on the rest of the held-out English "
        "rows; intervals: 95% bootstrap over test articles, trusted texts fixed. See the module docstring of "
        "`benchmarks/transfer/adapt.py`."),
             "## Headline: mean (worst) per axis", "",
             "| arm | axis | regime | AUROC | TPR at 1% | realised FPR |", "|---|---|---|---|---|---|",
             *axis_rows(payload, lambda x: f"{x['mean_auroc']:.3f} | {x['mean_tpr']:.3f} ({x['min_tpr']:.3f}) | "
                                           f"{x['mean_fpr']:.3f} ({x['max_fpr']:.3f})")]
    lines += ["", "## Every held-out value", "", "Cells: AUROC [CI] / TPR [CI] / FPR [CI].", "",
              "| arm | held out | test machine/human | " + " | ".join(regimes) + " |",
              "|---|---|---|" + "---|" * len(regimes)]
    for a in payload["arms"].values():
        for key, r in a["splits"].items():
            cells = [" / ".join(f"{r[g][m]:.{p}f} [{r[g][m + '_ci'][0]:.{p}f}, {r[g][m + '_ci'][1]:.{p}f}]"
                                for m, p in (("auroc", 2), ("tpr", 2), ("fpr", 3))) for g in regimes]
            lines.append(f"| {a['arm']} | {key} | {r['test_machine']}/{r['test_human']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(payload: dict[str, Any], path: Path) -> None:
    """Per arm: AUROC and TPR at 1% of every held-out value, one bar per regime (the largest repeat only)."""
    from matplotlib.figure import Figure

    arms, top = list(payload["arms"].values()), f"_x{max(payload['repeats'])}"
    regimes = [g for g in payload["regimes"] if g == "plain" or g.endswith(top)]
    fig = Figure(figsize=(11, 3.8 * len(arms)))
    fig.suptitle(payload["command"], fontsize=8)
    for i, a in enumerate(arms):
        keys = list(a["splits"])
        x = np.arange(len(keys))
        for j, metric in enumerate(("auroc", "tpr")):
            ax = fig.add_subplot(len(arms), 2, 2 * i + j + 1)
            for g_i, g in enumerate(regimes):
                ax.bar(x + (g_i - (len(regimes) - 1) / 2) * 0.8 / len(regimes),
                       [a["splits"][k][g][metric] for k in keys], 0.8 / len(regimes), label=g)
            ax.set_xticks(x, keys, rotation=30, fontsize=7)
            ax.set_ylabel("AUROC" if metric == "auroc" else "TPR at 1% FPR")
            ax.set_title(f"{a['arm']}: held out", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer adapt", description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/_work/protocol"),
                        help="the protocol's feature caches; per-split state goes to WORK/state_NAME")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--arms", default="ngram_idf", help=f"comma-separated, from {list(ARMS)}")
    parser.add_argument("--axes", default="source,domain", help="comma-separated axes")
    parser.add_argument("--repeat", default="1,10", help="comma-separated: times each trusted text is repeated")
    parser.add_argument("--replay", default="",
                        help="comma-separated sizes N: also refit on N training rows drawn at random plus the trusted "
                             "texts (what a model shipping N of its training rows could do on a user's machine)")
    parser.add_argument("--calibration", type=int, default=CALIBRATION, help="trusted humans per held-out side")
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="transfer_adapt", help="report stem")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    names = [a for a in args.arms.split(",") if a]
    if unknown := [n for n in names if n not in ARMS]:
        parser.error(f"unknown arms {unknown}; choose from {list(ARMS)}")
    repeats = [int(r) for r in args.repeat.split(",")]
    replays = tuple(int(n) for n in args.replay.split(",") if n)
    rows, _ = load_rows()
    used = {f for n in names for f in ARMS[n].features}
    feats = arm_features(rows, used, *feature_caches(used, args.work, args.threads))
    axes = set(args.axes.split(","))
    state = args.work / f"state_{args.name}"
    state.mkdir(parents=True, exist_ok=True)
    regimes = ["plain", *(f"{g}_x{r}" for r in repeats
                          for g in (*(("adapted", "laplace") if r else ()), *(f"replay{n}" for n in replays)))]
    arms: dict[str, Any] = {}
    for n in names:
        out: dict[str, Any] = {"arm": ARMS[n].name, "splits": {}}
        for k, sp in enumerate(splits(rows)):
            if sp.axis not in axes:
                continue
            file = state / (f"{n}__{sp.axis}__{sp.value}__{args.calibration}__{'-'.join(map(str, repeats))}"
                            f"__{'-'.join(map(str, replays))}.json")
            if not file.is_file():
                start = time.time()
                res = run_split(feats, ARMS[n], rows, sp, k, repeats, args.bootstrap, args.calibration, replays)
                file.write_text(json.dumps(res))
                log.info("%s %s:%s: %s (%.0f s)", n, sp.axis, sp.value, " ".join(
                    f"{g} {res[g]['auroc']:.3f}/{res[g]['tpr']:.3f}" for g in regimes), time.time() - start)
            out["splits"][f"{sp.axis}:{sp.value}"] = json.loads(file.read_text())
        out["summary"] = summarise(out["splits"], regimes)
        arms[n] = out
    command = ("python -m benchmarks.transfer adapt " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    payload = {"command": command, **machine(), "rows": len(rows), "regimes": regimes, "repeats": repeats,
               "calibration": args.calibration, "arms": arms}
    write_report(args.out, args.name, payload, markdown, plot)
    return 0
