"""Model collapse under recursive training: how many generations does filtering buy?

Run from the repository root: ``python -m benchmarks.collapse SUBCOMMAND [OPTIONS]`` (see
benchmarks/collapse/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "run": Subcommand("benchmarks.collapse.run", "Recursive training with and without filtering: when does each "
                      "arm collapse? Writes OUT/results.json, results.md, results.png, run.json."),
    "compare": Subcommand("benchmarks.collapse.analysis.compare", "Runs of several schedules side by side: how far "
                          "each one's no-filter arm drifts from generation 0."),
    "drift": Subcommand("benchmarks.collapse.analysis.drift", "Two runs that differ in one setting, paired by seed, "
                        "against the first run's seed-to-seed spread."),
    "pretraining": Subcommand("benchmarks.collapse.analysis.pretraining", "Runs that differ only in the "
                              "pretraining seed: the spread one pretraining hides from intervals over seeds."),
    "benefit": Subcommand("benchmarks.collapse.analysis.benefit", "What each filter bought, several runs side by "
                          "side: oracle-benefit shares, realised TPR and FPR, one table and one figure."),
    "baseline": Subcommand("benchmarks.collapse.baseline", "Generation 0 of a run's learner against the word n-gram, "
                           "the n-gram's floor chosen on validation articles, the margin at every floor."),
    "tune": Subcommand("benchmarks.collapse.tune", "Learner settings (steps, learning rate...) chosen on validation "
                       "articles at generation 0; the test documents only measure."),
    "reach": Subcommand("benchmarks.collapse.reach", "The shipped classifier's TPR, human FPR and AUROC at the "
                        "document lengths of the collapse crawls (40 to 200 words)."),
    "folds": Subcommand("benchmarks.collapse.folds", "The practitioner's classifier on a finished run's crawls, its "
                        "cross-validation folded by opening words or by trusted article: threshold, FPR, TPR."),
    "fp-error": Subcommand("benchmarks.collapse.fp_error", "Floating-point precision as a collapse mechanism: "
                           "rounding against sampling error, collapse time per dtype."),
}

if __name__ == "__main__":
    dispatch("collapse", __doc__.split("\n")[0], SUBCOMMANDS)
