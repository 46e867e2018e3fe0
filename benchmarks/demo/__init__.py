"""The demo: a small contaminated crawl built from the shared data, filtered end to end.

``python -m benchmarks.demo -o demo-out`` (``make demo``) runs it and prints what was caught.
"""
from benchmarks.demo.run import DemoSizes, build_crawl, run_demo, train_demo_classifier

__all__ = ["DemoSizes", "build_crawl", "run_demo", "train_demo_classifier"]
