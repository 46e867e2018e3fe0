"""The LM detector on a GPU: tokens per second and agreement with the CPU path, on texts of the shared data.

    python -m benchmarks.lm gpu [--docs 512] [--cpu-docs 64] [--batch-sizes 16,64] [--out benchmarks/results]

``device: auto`` picks CUDA where there is one, ``dtype: auto`` bfloat16 there, and batches are sorted by length
(``detectors.lm.detector._batches``), so the detector needs no GPU settings. This script scores the same texts with the
default model on the GPU (bfloat16 and float32, at each batch size) and on the CPU (float32, the first
``--cpu-docs`` texts only: the CPU is ~100x slower), and reports tokens per second and the largest difference of
each LM column from the CPU's, with the AUROC of ``lm.fastdetect`` on both. Without a CUDA device it says so and
exits with status 3, writing nothing; CI never runs it.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from detectors.classifier.metrics import auroc
from filterkit.contract import registry
from filterkit.testing.shared import shared_data_dir

COLUMNS = ("lm.loglik", "lm.logrank", "lm.entropy", "lm.fastdetect", "lm.gltr_top10")


def texts(n: int) -> tuple[list[str], np.ndarray]:
    """The first ``n`` rows of ``detect/chat_models.parquet`` (each pair's human and machine rows side by side)."""
    t = pq.read_table(shared_data_dir() / "detect" / "chat_models.parquet").slice(0, n)
    return t["text"].to_pylist(), np.array([v == "machine" for v in t["label"].to_pylist()])


def run(params: dict, docs: list[str]) -> tuple[pa.Table, float, int]:
    """Scores, seconds (after a warm-up batch) and scored tokens."""
    det = registry.build("lm", params)
    det.setup()
    det.score(pa.table({"text": docs[:8]}))  # loads the weights and warms the kernels
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = det.score(pa.table({"text": docs}))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start, int(np.nansum(out["lm.ntokens"].to_numpy(zero_copy_only=False)))


def main(argv: Sequence[str]) -> None:
    """Measure and write ``lm_gpu.md`` and ``lm_gpu.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lm gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=512)
    parser.add_argument("--cpu-docs", type=int, default=64)
    parser.add_argument("--batch-sizes", default="16,64")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device on this machine: nothing measured (run this where a GPU is)", file=sys.stderr)
        raise SystemExit(3)
    docs, y = texts(args.docs)
    cpu, cpu_s, cpu_tokens = run({"device": "cpu", "dtype": "float32"}, docs[: args.cpu_docs])
    rows = [{"setting": "cpu float32, batch 16", "docs": args.cpu_docs, "tokens_per_s": cpu_tokens / cpu_s,
             "max_abs_diff": {c: 0.0 for c in COLUMNS},
             "auroc_fastdetect": auroc(y[: args.cpu_docs], cpu["lm.fastdetect"].to_numpy(zero_copy_only=False))}]
    for dtype in ("bfloat16", "float32"):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            out, seconds, tokens = run({"device": "cuda", "dtype": dtype, "batch_size": batch}, docs)
            diff = {c: float(np.nanmax(np.abs(out[c].to_numpy(zero_copy_only=False)[: args.cpu_docs]
                                              - cpu[c].to_numpy(zero_copy_only=False)))) for c in COLUMNS}
            rows.append({"setting": f"cuda {dtype}, batch {batch}", "docs": len(docs), "tokens_per_s": tokens / seconds,
                         "max_abs_diff": diff,
                         "auroc_fastdetect": auroc(y, out["lm.fastdetect"].to_numpy(zero_copy_only=False))})
    command = "python -m benchmarks.lm gpu " + " ".join(argv)
    device = torch.cuda.get_device_name(0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lm_gpu.json").write_text(json.dumps({"command": command, "device": device, "rows": rows}, indent=2))
    lines = ["# LM detector on a GPU", "", "```", command, "```", "",
             f"Device: {device}; host {platform.machine()}; torch {torch.__version__}. Default model. Differences are "
             f"against the CPU's float32 scores of the first {args.cpu_docs} texts.", "",
             "| setting | docs | tokens/s | " + " | ".join(f"max abs diff {c}" for c in COLUMNS) +
             " | AUROC lm.fastdetect |", "|---|---:|---:|" + "---:|" * len(COLUMNS) + "---:|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['docs']} | {r['tokens_per_s']:,.0f} | "
                     + " | ".join(f"{r['max_abs_diff'][c]:.1e}" for c in COLUMNS) + f" | {r['auroc_fastdetect']:.3f} |")
    (args.out / "lm_gpu.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

