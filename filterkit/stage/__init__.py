"""The filter stage: rules that turn score columns into keep/remove decisions, reasons and weights, and the
mixture-proportion estimate of how much of a crawl is machine-written. It reads columns only and never calls a model."""
