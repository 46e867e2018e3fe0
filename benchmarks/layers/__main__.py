"""Layer benchmarks: what a refactoring of the layers costs or changes, measured at two revisions side by side.

Run from the repository root: ``python -m benchmarks.layers SUBCOMMAND --base REV [OPTIONS]`` (see
benchmarks/README.md).
"""
from benchmarks.entry import Subcommand, dispatch

SUBCOMMANDS = {
    "same-bytes": Subcommand("benchmarks.layers.same_bytes", "Do two revisions write the same bytes (the demo, the "
                                                             "SIGKILL test's corpus, a messy corpus)? same_bytes.md."),
    "small-run": Subcommand("benchmarks.layers.small_run", "Wall time of a whole filterkit filter process at two "
                                                           "revisions: small_run.md."),
    "startup": Subcommand("benchmarks.layers.startup", "Import time of filterkit.engine.pipeline at two revisions: "
                                                       "startup.md."),
}

if __name__ == "__main__":
    dispatch("layers", __doc__.split("\n")[0], SUBCOMMANDS)
