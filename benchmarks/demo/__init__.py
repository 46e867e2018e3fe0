"""The demo: a small contaminated crawl built from the shared data, filtered end to end.

``python -m benchmarks.demo -o demo-out`` (``make demo``) runs it and prints what was caught.
"""
from benchmarks.demo.run import DemoSizes, build_crawl, held_out_texts, run_demo

__all__ = ["DemoSizes", "build_crawl", "held_out_texts", "run_demo"]
