"""Benchmarks that use filterkit's public API like a user would; results go to ``benchmarks/results/``."""
