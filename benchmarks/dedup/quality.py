"""Dedup quality: a labelled near-duplicate set built by realistic edits, run through ``filterkit.score``.

Originals are the human texts of the shared data (news, Wikipedia paragraphs, stories, WikiText windows).
Each gets 1-3 edited copies (crawl boilerplate added or removed, sentences dropped or reordered, typos, OCR
noise, re-wrapping, truncation, several at once, and the issue's anchor: a share/copyright line plus a few
edited words). Every pair's exact word 5-gram Jaccard is measured, so results are reported by Jaccard
bucket and edit type. All 13,000 rows of ``detect/open_models.parquet`` are mixed in as hard negatives:
a machine text shares its human twin's opening ~30 tokens but is a different document.

    python -m benchmarks.dedup quality [--thresholds 0.5,0.6,0.7,0.8] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import filterkit
from benchmarks.perturb.edits import EDITS, boilerplate_add, crawled_copy
from detectors.duplicates.shingles import Shingling
from filterkit.testing.shared import shared_data_dir

BUCKETS = [(0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0001)]
log = logging.getLogger("dedup.quality")


def originals(data: Path, rng: np.random.Generator, wikitext_windows: int) -> list[str]:
    """News, Wikipedia and story texts, plus non-overlapping WikiText windows of 150-250 words."""
    texts = pq.read_table(data / "human" / "news_wiki_stories.parquet")["text"].to_pylist()
    words = " ".join(pq.read_table(data / "human" / "wikitext2.parquet")["text"].to_pylist()).split()
    start = 0
    windows = []
    while start < len(words) and len(windows) < wikitext_windows:
        size = int(rng.integers(150, 251))
        windows.append(" ".join(words[start: start + size]))
        start += size
    return distinct([t for t in texts + windows if len(t.split()) >= 40])


def distinct(texts: list[str], max_jaccard: float = 0.3) -> list[str]:
    """Drop texts whose exact 5-gram Jaccard to an earlier one reaches ``max_jaccard`` (the sources repeat some
    stories), so that two originals are never true duplicates of each other."""
    from scipy import sparse

    hashes, offsets = Shingling().hash_shingles(pa.array(texts))
    _, column = np.unique(hashes, return_inverse=True)
    rows = np.repeat(np.arange(len(texts)), np.diff(offsets))
    incidence = sparse.csr_matrix((np.ones(len(rows)), (rows, column)), shape=(len(texts), column.max() + 1))
    incidence.data[:] = 1.0  # a shingle twice in one text counts once
    inter = (incidence @ incidence.T).tocoo()
    sizes = np.asarray(incidence.sum(axis=1)).ravel()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    dropped = set(inter.col[(inter.row < inter.col) & (jac >= max_jaccard)].tolist())
    log.info("originals: %d, %d dropped as near-copies of an earlier one", len(texts), len(dropped))
    return [t for i, t in enumerate(texts) if i not in dropped]


def labelled_set(data: Path, seed: int, wikitext_windows: int) -> tuple[pd.DataFrame, list[dict]]:
    """Rows (id, text, source, role, edit) and the base-variant records, before shuffling."""
    rng = np.random.default_rng(seed)
    rows, variants = [], []
    edit_names = [*EDITS, "mixed", "crawled_copy"]
    for k, text in enumerate(originals(data, rng, wikitext_windows)):
        chosen = rng.choice(edit_names, size=int(rng.integers(1, 4)), replace=False)
        # Boilerplate removal means the crawl's first copy had the boilerplate and the later one does not.
        base = boilerplate_add(text, float(rng.uniform(0.3, 1.0)), rng) if "boilerplate_remove" in chosen else text
        rows.append({"id": f"orig/{k}", "text": base, "source": k, "role": "base", "edit": None})
        for v, edit in enumerate(chosen):
            strength = float(rng.uniform(0.2, 1.0))
            if edit == "mixed":
                steps = rng.choice([e for e in EDITS if e != "boilerplate_remove"], size=3, replace=False)
                copy = text
                for step in steps:
                    copy = EDITS[step](copy, strength * 0.6, rng)
            elif edit == "crawled_copy":
                copy = crawled_copy(text, rng)
            else:
                copy = EDITS[edit](text, strength, rng)
            rows.append({"id": f"orig/{k}/v{v}", "text": copy, "source": k, "role": "variant", "edit": str(edit)})
            variants.append({"base": f"orig/{k}", "variant": f"orig/{k}/v{v}", "edit": str(edit)})
    twins = pq.read_table(data / "detect" / "open_models.parquet").to_pandas()
    for r in twins.itertuples():
        rows.append({"id": f"twin/{r.pair_id}/{r.label}", "text": r.text, "source": -1, "role": r.label,
                     "edit": None, "pair_id": r.pair_id})
    return pd.DataFrame(rows), variants


def exact_jaccards(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Exact word 5-gram Jaccard of every pair inside one source cluster, and of every twin pair."""
    hashes, offsets = Shingling().hash_shingles(pa.array(frame["text"].tolist()))
    sets = {i: set(hashes[offsets[n]: offsets[n + 1]].tolist()) for n, i in enumerate(frame["id"])}
    out = {}
    groups = frame[frame["source"] >= 0].groupby("source")["id"].apply(list)
    twins = frame[frame["source"] < 0].groupby("pair_id")["id"].apply(list)
    for members in itertools.chain(groups, twins):
        for a, b in itertools.combinations(sorted(members), 2):
            union = sets[a] | sets[b]
            out[(a, b)] = len(sets[a] & sets[b]) / len(union) if union else 1.0
    return out


def predicted_pairs(ids: np.ndarray, clusters: np.ndarray) -> set[tuple[str, str]]:
    """Every pair of rows that share a predicted cluster."""
    groups = defaultdict(list)
    for i, c in zip(ids, clusters, strict=True):
        groups[c].append(i)
    return {(a, b) for members in groups.values() if len(members) > 1
            for a, b in itertools.combinations(sorted(members), 2)}


def prf(pred: set, positive: set, ignore: set) -> dict[str, float]:
    """Precision, recall, F1 of pairs; pairs in ``ignore`` count neither way."""
    judged = pred - ignore
    tp = len(judged & positive)
    precision = tp / len(judged) if judged else 1.0
    recall = tp / len(positive) if positive else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "pairs_predicted": len(judged),
            "pairs_true": len(positive)}


def evaluate(frame: pd.DataFrame, jac: dict, variants: list[dict], clusters: np.ndarray) -> dict:
    """All metrics for one run's cluster ids (aligned with ``frame``)."""
    from sklearn.metrics import adjusted_rand_score

    labelled = frame["source"].to_numpy() >= 0
    ids = frame["id"].to_numpy()
    pred = predicted_pairs(ids[labelled], clusters[labelled])
    same = {p for p in jac if not p[0].startswith("twin/")}
    out: dict = {}
    for cut in (0.5, 0.7, 0.8):
        positive = {p for p in same if jac[p] >= cut}
        out[f"pairs_jaccard_ge_{cut}"] = prf(pred, positive, same - positive)
    out["precision_all_pairs"] = len(pred & same) / len(pred) if pred else 1.0
    out["cross_source_false_merges"] = len(pred - same)
    out["recall_by_jaccard"] = {}
    for lo, hi in BUCKETS:
        members = [p for p in same if lo <= jac[p] < hi]
        hit = sum(p in pred for p in members)
        out["recall_by_jaccard"][f"[{lo:.1f},{min(hi, 1):.1f}{']' if hi > 1 else ')'}"] = {
            "pairs": len(members), "recall": hit / len(members) if members else None}
    by_edit = defaultdict(lambda: {"ge_0.8": [0, 0], "0.7_0.8": [0, 0], "lt_0.7": [0, 0]})
    for v in variants:
        pair = tuple(sorted((v["base"], v["variant"])))
        j = jac[pair]
        key = "ge_0.8" if j >= 0.8 else "0.7_0.8" if j >= 0.7 else "lt_0.7"
        by_edit[v["edit"]][key][0] += 1
        by_edit[v["edit"]][key][1] += pair in pred
        by_edit[v["edit"]].setdefault("jaccards", []).append(j)
    out["by_edit"] = {
        edit: {
            **{k: {"pairs": n, "recall": (hit / n if n else None)} for k, (n, hit) in
               ((k, d[k]) for k in ("ge_0.8", "0.7_0.8", "lt_0.7"))},
            "median_jaccard": float(np.median(d["jaccards"])),
        }
        for edit, d in sorted(by_edit.items())
    }
    out["ari"] = adjusted_rand_score(frame["source"].to_numpy()[labelled], clusters[labelled])
    twins = frame[~labelled]
    twin_cluster = dict(zip(twins["id"], clusters[~labelled], strict=True))
    pair_ids = twins["pair_id"].unique()
    merged = [p for p in pair_ids if twin_cluster[f"twin/{p}/human"] == twin_cluster[f"twin/{p}/machine"]]
    twin_j = [jac[tuple(sorted((f"twin/{p}/human", f"twin/{p}/machine")))] for p in pair_ids]
    machine = twins[twins["role"] == "machine"]
    sizes = pd.Series(clusters).value_counts()
    out["twins"] = {
        "pairs": len(pair_ids),
        "human_machine_merged": len(merged),
        "machine_rows_in_a_cluster": int((sizes[clusters[machine.index]].to_numpy() > 1).sum()),
        "jaccard_median": float(np.median(twin_j)),
        "jaccard_p99": float(np.quantile(twin_j, 0.99)),
        "jaccard_max": float(np.max(twin_j)),
    }
    anchor = [v for v in variants if v["edit"] == "crawled_copy"]
    anchor_j = [jac[tuple(sorted((v["base"], v["variant"])))] for v in anchor]
    out["anchor_crawled_copy"] = {
        "pairs": len(anchor), "jaccard_median": float(np.median(anchor_j)), "jaccard_min": float(np.min(anchor_j)),
        "recall": sum(tuple(sorted((v["base"], v["variant"]))) in pred for v in anchor) / len(anchor),
    }
    return out


def run_threshold(inputs: list[str], work: Path, threshold: float, frame: pd.DataFrame) -> tuple[np.ndarray, float]:
    """Cluster ids for every row of ``frame`` from one ``filterkit.score`` run."""
    cfg = filterkit.FilterConfig(detectors=(filterkit.DetectorSpec("minhash", {"threshold": threshold}),),
                                 id_column="id")
    out = work / f"run-{threshold}"
    start = time.perf_counter()
    filterkit.score(inputs, out, cfg, overwrite=True)
    seconds = time.perf_counter() - start
    scored = pq.read_table(out / "kept", columns=["id", "minhash.cluster_id"]).to_pandas()
    cluster = dict(zip(scored["id"], scored["minhash.cluster_id"], strict=True))
    shutil.rmtree(out)
    return np.array([cluster[i] for i in frame["id"]]), seconds


def plot(results: dict, path: Path) -> None:
    """Recall by exact-Jaccard bucket for every threshold tried."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for threshold, r in results["thresholds"].items():
        buckets = list(r["recall_by_jaccard"])
        ax.plot(buckets, [r["recall_by_jaccard"][b]["recall"] for b in buckets], marker="o",
                label=f"threshold {threshold}" + (" (default)" if float(threshold) == results["default"] else ""))
    ax.set_xlabel("exact word 5-gram Jaccard of the pair")
    ax.set_ylabel("pairs found (recall)")
    ax.set_title("MinHash near-duplicates: recall by Jaccard (128 perm, word 5-grams)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(results: dict, command: str) -> str:
    """The results as a Markdown report that opens with the command that made it."""
    lines = [f"# Dedup quality\n\n```\n{command}\n```\n",
             f"Labelled set: {results['set']['originals']} originals, {results['set']['variants']} edited copies, "
             f"{results['set']['twin_rows']} human/machine twin rows (hard negatives); "
             f"{results['set']['rows']} rows in 2 Parquet files, run through `filterkit.score` with "
             f"`DetectorSpec('minhash', {{'threshold': t}})` (128 permutations, word 5-grams, verified edges).\n",
             "A predicted pair is any two rows in one predicted cluster, so copies joined through a third row "
             "count too (hence some recall below the threshold). P/R/F1 at `J>=c`: true pairs are same-source "
             "pairs with exact Jaccard >= c, same-source pairs below c count neither way, and any cross-source pair "
             "is a false positive. ARI compares predicted clusters with the source clusters, which include copies "
             "edited far below any dedup threshold.\n",
             "## Pairs and clusters by threshold\n",
             "| threshold | bands x rows | P (J>=0.8) | R (J>=0.8) | F1 (J>=0.8) | F1 (J>=0.7) | F1 (J>=0.5) | "
             "precision, all pairs | cross-source merges | ARI | twins merged | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t, r in results["thresholds"].items():
        a, b, c = r["pairs_jaccard_ge_0.8"], r["pairs_jaccard_ge_0.7"], r["pairs_jaccard_ge_0.5"]
        lines.append(f"| {t}{' (default)' if float(t) == results['default'] else ''} | {r['bands']}x{r['rows']} | "
                     f"{a['precision']:.4f} | {a['recall']:.4f} | {a['f1']:.4f} | {b['f1']:.4f} | {c['f1']:.4f} | "
                     f"{r['precision_all_pairs']:.4f} | {r['cross_source_false_merges']} | {r['ari']:.4f} | "
                     f"{r['twins']['human_machine_merged']} / {r['twins']['pairs']} | {r['seconds']:.1f} |")
    d = results["thresholds"][str(results["default"])]
    lines += ["", f"## Default threshold {results['default']}: recall by exact Jaccard\n",
              "| Jaccard | pairs | recall |", "|---|---|---|"]
    for bucket, v in d["recall_by_jaccard"].items():
        recall = "" if v["recall"] is None else f"{v['recall']:.4f}"
        lines.append(f"| {bucket} | {v['pairs']} | {recall} |")
    lines += ["", f"## Default threshold {results['default']}: recall by edit type (base-copy pairs)\n",
              "| edit | median J | pairs J>=0.8 | recall | pairs 0.7-0.8 | recall | pairs J<0.7 | recall |",
              "|---|---|---|---|---|---|---|---|"]
    for edit, v in d["by_edit"].items():
        cells = []
        for k in ("ge_0.8", "0.7_0.8", "lt_0.7"):
            cells += [str(v[k]["pairs"]), "" if v[k]["recall"] is None else f"{v[k]['recall']:.3f}"]
        lines.append(f"| {edit} | {v['median_jaccard']:.3f} | " + " | ".join(cells) + " |")
    tw, an = d["twins"], d["anchor_crawled_copy"]
    lines += ["", "## Hard negatives and the anchor case (default threshold)\n",
              f"- Human/machine twins: {tw['pairs']} pairs, exact Jaccard median {tw['jaccard_median']:.3f}, "
              f"99th percentile {tw['jaccard_p99']:.3f}, max {tw['jaccard_max']:.3f}; merged: "
              f"**{tw['human_machine_merged']}**. Machine rows placed in any cluster: "
              f"{tw['machine_rows_in_a_cluster']} "
              "(the same human article appears under several generators, so human rows do cluster with each other).",
              f"- Crawled copy (share/copyright line + 3 edited words): {an['pairs']} pairs, exact Jaccard median "
              f"{an['jaccard_median']:.3f}, min {an['jaccard_min']:.3f}; recall **{an['recall']:.4f}**.",
              "", "Targets (issue 3): F1 >= 0.95 on pairs with J >= 0.8 and no twin merged. The published anchor, "
              "text-dedup's MinHash (duplicate-class P 0.959 / R 0.942 on CORE, ARI 0.729 on NEWS-COPY), is on other "
              "data; the comparison is in spirit only.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    """Build the set, run every threshold, write JSON, Markdown and a plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dedup quality", description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", default="0.5,0.6,0.7,0.8")
    parser.add_argument("--default", type=float, default=None, help="Threshold to detail (the detector's default).")
    parser.add_argument("--wikitext-windows", type=int, default=700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from detectors.duplicates.minhash import MinHashDuplicates

    default = args.default if args.default is not None else MinHashDuplicates().threshold
    thresholds = sorted({float(t) for t in args.thresholds.split(",")} | {default})
    frame, variants = labelled_set(shared_data_dir(), args.seed, args.wikitext_windows)
    frame = frame.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)
    log.info("labelled set: %d rows", len(frame))
    jac = exact_jaccards(frame)
    results: dict = {"default": default, "set": {
        "rows": len(frame), "originals": int((frame["role"] == "base").sum()), "variants": len(variants),
        "twin_rows": int((frame["source"] < 0).sum())}, "thresholds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        half = len(frame) // 2
        inputs = [str(work / "part-a.parquet"), str(work / "part-b.parquet")]
        table = pa.table({"id": frame["id"].tolist(), "text": frame["text"].tolist()})
        pq.write_table(table.slice(0, half), inputs[0])
        pq.write_table(table.slice(half), inputs[1])
        for t in thresholds:
            clusters, seconds = run_threshold(inputs, work, t, frame)
            r = evaluate(frame, jac, variants, clusters)
            r["bands"], r["rows"] = MinHashDuplicates(threshold=t).band_shape
            r["seconds"] = seconds
            results["thresholds"][str(t)] = r
            log.info("threshold %.2f: F1(J>=0.8) %.4f, twins merged %d", t, r["pairs_jaccard_ge_0.8"]["f1"],
                     r["twins"]["human_machine_merged"])
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.dedup quality " + " ".join(argv)
    (args.out / "dedup_quality.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (args.out / "dedup_quality.md").write_text(markdown(results, command.strip()))
    plot(results, args.out / "dedup_quality.png")

