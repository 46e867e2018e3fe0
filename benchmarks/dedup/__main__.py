"""Dedup benchmarks: MinHash near-duplicate quality, speed against datasketch and rensa, and datatrove side by side.

Run from the repository root: ``python -m benchmarks.dedup SUBCOMMAND [OPTIONS]`` (see benchmarks/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "quality": Subcommand("benchmarks.dedup.quality", "A labelled near-duplicate set built by realistic edits, at "
                                                      "several thresholds: dedup_quality.{json,md,png}."),
    "speed": Subcommand("benchmarks.dedup.speed", "Signatures against datasketch and rensa, then end-to-end runs at "
                                                  "each size with wall time and peak memory: dedup_speed.{json,md}."),
    "vs-datatrove": Subcommand("benchmarks.dedup.vs_datatrove", "filterkit's minhash detector against datatrove's "
                                                                "MinHash pipeline: dedup_vs_datatrove.{json,md,png}."),
}

if __name__ == "__main__":
    dispatch("dedup", __doc__.split("\n")[0], SUBCOMMANDS)
