"""Scoring outside a run: RowScorer applies a config's row-local detectors and filter stage to a list of texts,
and the two adapters built on it, a datatrove pipeline step and score_dataset for Hugging Face datasets."""
