"""Settings for every property test: a fixed set of examples in CI, many random ones on purpose (``make fuzz``).

CI passes or fails on the code, never on luck: by default each test is derandomised (its examples follow from
its name alone) and no example database is read or written, so two runs of one commit see the same inputs.
``FILTERKIT_FUZZ=N`` runs N times the examples from a fresh random seed, still without a database; a failure
prints the seed and the ``@reproduce_failure`` blob, and the failing input then belongs in a plain test.
"""
from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings

FUZZ = int(os.environ.get("FILTERKIT_FUZZ", "0") or 0)


def prop_settings(examples: int, *, shrink: bool = True, **kwargs: Any) -> settings:
    """Hypothesis settings for a property test of ``examples`` examples in CI (``shrink=False``: whole runs)."""
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(max_examples=examples * max(FUZZ, 1), derandomize=not FUZZ, database=None, deadline=None,
                    print_blob=True, phases=phases, suppress_health_check=[HealthCheck.too_slow], **kwargs)
