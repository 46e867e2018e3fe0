"""Shared fixtures: the shared data directory and small Parquet corpora written for each test."""
from __future__ import annotations

from pathlib import Path

import pytest

from filterkit.testing.shared import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$FILTERKIT_SHARED``); tests that need it fail loudly if it is missing."""
    return shared_data_dir()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every hypothesis test ``property``, so ``make fuzz`` can select them all by marker."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)
