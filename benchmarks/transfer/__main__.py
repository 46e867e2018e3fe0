"""Transfer benchmarks: detectors trained on some generators and domains, tested on ones they never saw.

Run from the repository root: ``python -m benchmarks.transfer SUBCOMMAND [OPTIONS]`` (see benchmarks/README.md);
``data`` builds the transfer set the others read.
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "data": Subcommand("benchmarks.transfer.data", "The transfer set: 'texts' to score once, 'gather' the scored "
                                                   "rows, 'abstain' where the LM abstains (lm_unjudgeable.md)."),
    "run": Subcommand("benchmarks.transfer.run", "Leave a domain, a chat model or a model family out; thresholds "
                                                 "from training humans: transfer.{json,md,png}."),
    "protocol": Subcommand("benchmarks.transfer.protocol", "Feature arms (n-grams, MiniLM embeddings, style, stacks) "
                                                           "held out by source, domain, generator family and job, "
                                                           "out of the box and calibrated: transfer_protocol.*."),
    "lora": Subcommand("benchmarks.transfer.lora", "MiniLM fine-tuned through a LoRA adapter against its frozen "
                                                   "embeddings and the n-gram head, held out by source and domain: "
                                                   "transfer_lora.{json,md,png}."),
    "local": Subcommand("benchmarks.transfer.local", "A threshold that follows the domain (neighbour or cluster "
                                                     "normalised) against one calibration, on a pooled crawl of "
                                                     "unseen domains: transfer_local.{json,md}."),
    "thresholds": Subcommand("benchmarks.transfer.thresholds", "Out-of-the-box thresholds for an unseen domain: "
                                                               "training humans scored out of fold against leave "
                                                               "one domain out: transfer_thresholds.*."),
    "adapt": Subcommand("benchmarks.transfer.adapt", "Calibration whose trusted humans also train the model "
                                                     "(cross-fitted) against calibration alone, held out by source "
                                                     "and domain: transfer_adapt.{json,md,png}."),
    "mixture": Subcommand("benchmarks.transfer.mixture", "Planted mixes: is a crawl's machine share recovered? "
                                                         "mixture.{json,md}."),
    "cascade": Subcommand("benchmarks.transfer.cascade", "A distilled cascade, simulated on the scored set: "
                                                         "cascade.{json,md}."),
    "cascade-run": Subcommand("benchmarks.transfer.cascade_run", "The distilled cascade end to end through filterkit "
                                                                 "filter: cascade_run_<domain>.{json,md}."),
}

if __name__ == "__main__":
    dispatch("transfer", __doc__.split("\n")[0], SUBCOMMANDS)
