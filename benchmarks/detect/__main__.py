"""Detector benchmarks: quality at low false-positive rates, by group and under attack.

Run from the repository root: ``python -m benchmarks.detect SUBCOMMAND [OPTIONS]`` (see benchmarks/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "run": Subcommand("benchmarks.detect.bench", "Any labelled data and detectors: AUROC and TPR at 5/1/0.1%% FPR "
                                                 "per score, by group and length, the combined filter, attacks."),
    "shared": Subcommand("benchmarks.detect.shared", "The shared labelled set with every detector (LM scores "
                                                     "reused): the results entry of the detector suite."),
    "case-rate": Subcommand("benchmarks.detect.case_rate", "Case swaps at several strengths against the shared "
                                                           "set's filter (run after shared)."),
    "language-id": Subcommand("benchmarks.detect.language_id", "The classifier's language gate (py3langid): how "
                                                               "often it names the language, by language and length."),
    "trusted-n": Subcommand("benchmarks.detect.trusted_n", "How many trusted human texts a 1%% threshold needs: the "
                                                           "realised FPR's mean and 5-95%% range per n, exact and "
                                                           "simulated."),
}

if __name__ == "__main__":
    dispatch("detect", __doc__.split("\n")[0], SUBCOMMANDS)
