"""What tests, benchmarks and plugin authors share: ``check_detector`` (the conformance check every detector
passes), small corpora written on the fly, and where the shared data lives. Tests and benchmarks import this, never
each other."""
from filterkit.testing.checks import DEFAULT_TEXTS, check_detector

__all__ = ["DEFAULT_TEXTS", "check_detector"]
