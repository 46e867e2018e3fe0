"""Classifier benchmarks: the trained AI-text classifier's heads on held-out domains and generators.

Run from the repository root: ``python -m benchmarks.classifier SUBCOMMAND [OPTIONS]`` (see benchmarks/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "run": Subcommand("benchmarks.classifier.run", "Leave-one-domain-out and leave-one-generator-out AUROC and TPR at "
                                                   "1%% FPR per head, and speed: classifier.{json,md}."),
    "idf": Subcommand("benchmarks.classifier.idf", "The text head on raw n-gram counts against sublinear TF-IDF, on "
                                                   "the same splits: classifier_idf.{json,md,png}."),
    "ship": Subcommand("benchmarks.classifier.ship", "Build the default model shipped in detectors/classifier/default "
                                                     "from the shared data (seeded, deterministic)."),
    "speed": Subcommand("benchmarks.classifier.speed", "Docs/s of the shipped default classifier next to the LM "
                                                       "detector on ~200-word documents: classifier_speed.{json,md}."),
}

if __name__ == "__main__":
    dispatch("classifier", __doc__.split("\n")[0], SUBCOMMANDS)
