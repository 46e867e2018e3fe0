"""The language-model family: one forward pass of a causal LM per document gives perplexity, log-rank, entropy,
GLTR buckets and Fast-DetectGPT's curvature; models load from a local directory, the hub cache or a GGUF file."""
