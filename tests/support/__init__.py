"""Test-only helpers: detectors that fail or sleep on purpose, and hypothesis settings."""
