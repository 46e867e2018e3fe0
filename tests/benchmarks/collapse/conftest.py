"""Fixtures of the collapse benchmark's tests."""
from __future__ import annotations

import pytest

from benchmarks.collapse.learners import base


@pytest.fixture
def parrot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test learners ``parrot`` and ``silent`` (``fakes.py``) for one test."""
    monkeypatch.setitem(base.REGISTRY, "parrot", "tests.benchmarks.collapse.fakes:ParrotFamily")
    monkeypatch.setitem(base.REGISTRY, "silent", "tests.benchmarks.collapse.fakes:SilentFamily")
