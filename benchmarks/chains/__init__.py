"""Markovian generation chains: an LM rephrases its own output again and again, with no memory of earlier steps.

After "Markovian Generation Chains in Large Language Models": do the chains converge, how far do they drift
from the human start, and do detectors catch the text better or worse with every rephrasing?
"""
from benchmarks.chains.config import ChainsConfig, load
from benchmarks.chains.run import run_chains

__all__ = ["ChainsConfig", "load", "run_chains"]
