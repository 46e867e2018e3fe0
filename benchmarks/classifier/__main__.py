"""Classifier benchmarks: the trained AI-text classifier's heads on held-out domains and generators.

Run from the repository root: ``python -m benchmarks.classifier SUBCOMMAND [OPTIONS]`` (see benchmarks/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "run": Subcommand("benchmarks.classifier.run", "Leave-one-domain-out and leave-one-generator-out AUROC and TPR at "
                                                   "1%% FPR per head, and speed: classifier.{json,md}."),
    "idf": Subcommand("benchmarks.classifier.idf", "The text head on raw n-gram counts against sublinear TF-IDF, on "
                                                   "the same splits: classifier_idf.{json,md,png}."),
}

if __name__ == "__main__":
    dispatch("classifier", __doc__.split("\n")[0], SUBCOMMANDS)
