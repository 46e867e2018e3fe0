"""Docs/s of the packaged classifiers next to the LM detector, on ~200-word documents, in one process.

    python -m benchmarks.classifier speed --out benchmarks/results
    python -m benchmarks.classifier speed --device cuda --name classifier_speed_gpu --docs 4000 --lora-docs 4000 \
        --ngram-lm-docs 2000 --lm-docs 2000 --batch 256        # where a GPU is lent

The detectors are built as ``filterkit filter --detectors classifier,lm`` builds them (the classifier's three
packaged models, ``default``, ``lora`` and ``ngram_lm``; the LM detector's default model), set up and warmed on a
few documents, then timed on the same documents in batches of ``--batch`` rows (the pipeline's batches are
larger). Documents: human essays of the shared data cut to their first 200 words. The load average is recorded
before and after: the machine is shared, so other jobs slow every arm alike. ``--device`` goes to every detector
(``auto``, the default, takes a GPU where torch sees one); the GPU's name is recorded beside the CPUs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from detectors.device import resolve_device
from filterkit.contract import registry
from filterkit.contract.detector import TEXT
from filterkit.testing.shared import shared_data_dir


def documents(n: int, words: int = 200) -> list[str]:
    """``n`` human essays of the shared data, each cut to its first ``words`` words."""
    t = pq.read_table(Path(shared_data_dir()) / "detect" / "essays.parquet").to_pydict()
    texts = [" ".join(x.split()[:words]) for x, label in zip(t["text"], t["label"], strict=True)
             if label == "human" and len(x.split()) >= words]
    return texts[:n]


def time_detector(name: str, texts: list[str], batch: int, params: dict[str, str] | None = None) -> dict[str, float]:
    """Set up, warm up, then time ``score`` over ``texts``."""
    start = time.perf_counter()
    detector = registry.build(name, params or {})
    detector.setup()
    detector.score(pa.table({TEXT: texts[:4]}))
    setup_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        detector.score(pa.table({TEXT: texts[i:i + batch]}))
    wall = time.perf_counter() - start
    return {"docs": len(texts), "wall_s": round(wall, 2), "docs_per_s": round(len(texts) / wall, 2),
            "setup_and_warmup_s": round(setup_s, 2)}


def gpu_name(device: str) -> str:
    """``, GPU: <name>`` where ``device`` resolves to a CUDA device, else empty."""
    resolved = resolve_device(device, "speed")
    if not resolved.startswith("cuda"):
        return ""
    import torch

    return f", GPU: {torch.cuda.get_device_name(torch.device(resolved))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classifier speed", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--docs", type=int, default=400, help="documents for the classifier")
    parser.add_argument("--lora-docs", type=int, default=200, help="documents for the packaged LoRA classifier")
    parser.add_argument("--lm-docs", type=int, default=100, help="documents for the LM detector (slower)")
    parser.add_argument("--ngram-lm-docs", type=int, default=100,
                        help="documents for the packaged ngram_lm classifier (it runs the LM)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N, for every detector")
    parser.add_argument("--name", default="classifier_speed", help="stem of the .md and .json written")
    args = parser.parse_args(argv)
    device = {"device": args.device}
    texts = documents(max(args.docs, args.lora_docs, args.lm_docs, args.ngram_lm_docs))
    load_before = [round(x, 2) for x in os.getloadavg()]
    arms = {"classifier (default model)": time_detector("classifier", texts[:args.docs], args.batch, device),
            "classifier (lora model)": time_detector("classifier", texts[:args.lora_docs], args.batch,
                                                     {"model": "lora", **device}),
            "classifier (ngram_lm model)": time_detector("classifier", texts[:args.ngram_lm_docs], args.batch,
                                                         {"model": "ngram_lm", **device}),
            "lm (default model)": time_detector("lm", texts[:args.lm_docs], args.batch, device)}
    command = ("python -m benchmarks.classifier speed " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    payload = {"command": command,
               "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs{gpu_name(args.device)}",
               "device": args.device, "words_per_doc": 200,
               "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
               "arms": arms}
    lines = ["# Packaged classifiers against the LM detector: documents per second", "", "```", payload["command"],
             "```", "", f"Machine: {payload['machine']}; device {args.device}; load average (1, 5, 15 min) before "
             f"{payload['load_average_before']}, after {payload['load_average_after']} (a shared machine). "
             "Documents: human essays cut to 200 words; `score` on batches of "
             f"{args.batch} rows after setup and a warm-up.", "",
             "| detector | docs | wall s | docs/s | setup + warm-up s |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {v['docs']} | {v['wall_s']} | {v['docs_per_s']} | {v['setup_and_warmup_s']} |"
              for k, v in arms.items()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(payload, indent=1))
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0

