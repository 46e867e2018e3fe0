"""LM detector benchmarks: quality per score, speed on CPU and GPU, and the article subset scored on a CPU budget.

Run from the repository root: ``python -m benchmarks.lm SUBCOMMAND [OPTIONS]`` (see benchmarks/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "quality": Subcommand("benchmarks.lm.quality", "AUROC and TPR at 1%% FPR per score, domain and generator on "
                                                   "detect/open_models.parquet: lm_quality.{json,md,png} "
                                                   "(--scores: lm_quality_all.*)."),
    "speed": Subcommand("benchmarks.lm.speed", "Tokens per second against a plain transformers loop and this CPU's "
                                               "FLOP limit: lm_speed.{json,md,png}."),
    "gpu": Subcommand("benchmarks.lm.gpu", "Tokens per second on a GPU and agreement with the CPU path: "
                                           "lm_gpu.{json,md} (exit 3 without a CUDA device)."),
    "subset": Subcommand("benchmarks.lm.subset", "A share of detect/open_models.parquet's articles (or their scored "
                                                 "rows) as one Parquet file, for LM scoring on a CPU budget."),
    "scorers": Subcommand("benchmarks.lm.scorers", "SmolLM2-135M against Gemma 3 270M as the scoring LM, each domain "
                                                   "held out, on a sample: lm_scorers.{json,md,png}."),
    "default": Subcommand("benchmarks.lm.default", "The default lm.fastdetect threshold from the shipped "
                                                   "classifier's training humans: lm_default.{json,md,png}."),
}

if __name__ == "__main__":
    dispatch("lm", __doc__.split("\n")[0], SUBCOMMANDS)
