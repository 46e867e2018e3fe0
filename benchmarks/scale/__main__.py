"""``python -m benchmarks.scale [OPTIONS]``: the cheap detectors and MinHash over 1 GB to 10 GB of crawl-like Parquet.

The benchmark itself is ``benchmarks.scale.run``; see benchmarks/README.md.
"""
import sys

from benchmarks.scale.run import main

if __name__ == "__main__":
    main(sys.argv[1:])
