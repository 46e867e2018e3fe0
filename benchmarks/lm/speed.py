"""LM detector speed: tokens per second against a plain transformers loop and against this CPU's FLOP limit.

Everything runs side by side in one process, in rounds (plain loop, then each detector setting, then a matmul
probe, round after round), so that other jobs on a shared machine slow every contender alike; the tables give
the median of the rounds and the median of the per-round ratios.

The plain loop is what a user writes first: one document at a time, ``model(ids, labels=ids)`` under
``torch.no_grad``, same weights, same tokens, same threads. The FLOP limit is ``matmul GFLOP/s / (2 * params)``
with the GFLOP/s measured here on the model's own matrix shapes; attention adds a little on top of 2 * params.

    python -m benchmarks.lm speed [--docs 48] [--rounds 3] [--slice 16] [--batch-sizes 1,4,8,16]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from detectors.lm.models import load_causal_lm, resolve_model
from filterkit.contract import registry
from filterkit.testing.shared import shared_data_dir

log = logging.getLogger("lm.speed")


def sample_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of detect/open_models.parquet, human and machine, every domain (about 200 tokens each)."""
    table = pq.read_table(shared_data_dir() / "detect" / "open_models.parquet").to_pandas()
    return table.sample(n=n, random_state=seed)["text"].tolist()


def plain_loop(model, ids: list[list[int]]) -> list[float]:
    """The baseline: one document at a time through ``model(ids, labels=ids)``; returns mean log-likelihoods."""
    out = []
    with torch.no_grad():
        for doc in ids:
            x = torch.tensor([doc])
            out.append(-float(model(x, labels=x).loss))
    return out


def matmul_gflops(model, seconds: float = 3.0) -> float:
    """Float32 GFLOP/s of ``torch.matmul`` on the shapes of the model's MLP and LM head, 512 rows at a time."""
    cfg = model.config
    shapes = [(512, cfg.hidden_size, cfg.intermediate_size), (512, cfg.intermediate_size, cfg.hidden_size),
              (512, cfg.hidden_size, cfg.vocab_size)]
    mats = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
    flops, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a, b in mats:
            torch.matmul(a, b)
            flops += 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
    return flops / (time.perf_counter() - start) / 1e9


def main(argv: Sequence[str]) -> None:
    """Run the rounds and write ``lm_speed.{json,md,png}``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lm speed", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slice", type=int, default=16, help="documents each contender scores in turn")
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    texts = sample_texts(args.docs)
    model, tokenizer = load_causal_lm(resolve_model(args.model))
    params = sum(p.numel() for p in model.parameters())
    # The detector's default window; the sampled texts (about 200 tokens) fit in it whole.
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"][:512] for t in texts]
    tokens = sum(len(i) for i in ids)
    settings = {f"lm batch_size={b}": {"model": args.model, "batch_size": b, "min_tokens": 1}
                for b in map(int, args.batch_sizes.split(","))}
    best = max(map(int, args.batch_sizes.split(",")))
    settings[f"lm batch_size={best} int8"] = {"model": args.model, "batch_size": best, "min_tokens": 1,
                                              "quantize": "int8"}
    dets = {name: registry.build("lm", p) for name, p in settings.items()}
    table = pa.table({"text": texts})
    for det in dets.values():
        det.score(table.slice(0, 2))  # load and warm up outside the timed rounds

    contenders = ["plain loop", *dets]
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    gflops: list[float] = []
    loglik: dict[str, list[float]] = {}
    slices = [slice(lo, lo + args.slice) for lo in range(0, len(texts), args.slice)]
    for r in range(args.rounds):
        seconds = dict.fromkeys(contenders, 0.0)
        loglik = {name: [] for name in contenders}
        for k, part in enumerate(slices):
            # Every contender runs on the same slice before the next one starts, in a rotating order, so a
            # neighbour's burst of load hits all of them alike.
            shift = (r + k) % len(contenders)
            for name in contenders[shift:] + contenders[:shift]:
                start = time.perf_counter()
                if name == "plain loop":
                    values = plain_loop(model, ids[part])
                else:
                    values = dets[name].score(table.slice(part.start, args.slice))["lm.loglik"].to_pylist()
                seconds[name] += time.perf_counter() - start
                loglik[name] += [(part.start, values)]
        for name in contenders:
            rates[name].append(tokens / seconds[name])
        gflops.append(matmul_gflops(model))
        log.info("round %d: %s; matmul %.1f GFLOP/s", r, {k: round(v[-1], 1) for k, v in rates.items()}, gflops[-1])
    scores = {name: np.concatenate([v for _, v in sorted(parts)]) for name, parts in loglik.items()}

    limit = [g * 1e9 / (2 * params) for g in gflops]
    rows = []
    for name, values in rates.items():
        ratio = [v / p for v, p in zip(values, rates["plain loop"], strict=True)]
        share = [v / lim for v, lim in zip(values, limit, strict=True)]
        diff = float(np.max(np.abs(scores[name] - scores["plain loop"])))
        rows.append({"setting": name, "tokens_per_s": statistics.median(values), "per_round": values,
                     "vs_plain": statistics.median(ratio), "of_flop_limit": statistics.median(share),
                     "max_abs_loglik_diff_vs_plain": diff, "params": settings.get(name)})
    result = {
        "command": "python -m benchmarks.lm speed " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": threads,
                    "torch": torch.__version__, "python": platform.python_version()},
        "model": args.model, "params": params, "docs": len(texts), "tokens": tokens, "rounds": args.rounds,
        "matmul_gflops": {"median": statistics.median(gflops), "per_round": gflops},
        "flop_limit_tokens_per_s": statistics.median(limit),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lm_speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "lm_speed.md").write_text(render(result), encoding="utf-8")
    plot(result, args.out / "lm_speed.png")


def render(r: dict) -> str:
    """The Markdown table of a result."""
    lines = [
        "# LM detector speed", "", "```", r["command"], "```", "",
        f"Machine: {r['machine']['cpu']}, {r['machine']['threads']} threads, torch {r['machine']['torch']}. "
        f"Model `{r['model']}` ({r['params'] / 1e6:.1f}M parameters), {r['docs']} documents, {r['tokens']:,} "
        f"tokens, {r['rounds']} rounds side by side in one process; other jobs shared the machine, so read the "
        "ratios, not the absolute rates.", "",
        f"FLOP limit: matmul measured at {r['matmul_gflops']['median']:.1f} GFLOP/s (median of rounds) / "
        f"(2 x {r['params'] / 1e6:.1f}M FLOP per token) = **{r['flop_limit_tokens_per_s']:.0f} tokens/s**.", "",
        "| setting | tokens/s (median) | vs plain loop (median of rounds) | share of FLOP limit | "
        "max abs diff of mean log-lik vs plain |",
        "|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(f"| {row['setting']} | {row['tokens_per_s']:.1f} | {row['vs_plain']:.2f}x | "
                     f"{row['of_flop_limit']:.0%} | {row['max_abs_loglik_diff_vs_plain']:.1e} |")
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    """Bars of tokens/s per setting with the FLOP limit as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["setting"] for row in r["rows"]]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.barh(names, [row["tokens_per_s"] for row in r["rows"]], color="tab:blue")
    ax.axvline(r["flop_limit_tokens_per_s"], color="tab:red", linestyle="--", label="FLOP limit (fp32 matmul)")
    ax.set_xlabel("tokens / second (median of rounds)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

