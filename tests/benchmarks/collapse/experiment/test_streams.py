"""Common random numbers for the training draw (``streams.common_keys`` with ``schedules.draw_budget``)."""
from __future__ import annotations

import numpy as np

from benchmarks.collapse.data.rows import Rows
from benchmarks.collapse.experiment.schedules import draw_budget
from benchmarks.collapse.experiment.streams import common_keys


def test_a_crawl_position_has_one_key_in_every_arm_and_copies_draw_apart():
    a = common_keys(3, 1, 50, np.arange(50))
    b = common_keys(3, 1, 50, np.array([7, 2, 40]))
    assert np.array_equal(b, a[[7, 2, 40]])
    twice = common_keys(3, 1, 50, np.array([5, 9, 5, 5]))
    assert twice[0] == a[5] and twice[1] == a[9] and len({twice[0], twice[2], twice[3]}) == 3
    assert not np.array_equal(common_keys(4, 1, 50, np.arange(50)), a)  # another seed, other keys
    assert common_keys(3, 1, 50, np.array([], dtype=int)).size == 0


def test_drawing_by_keys_is_uniform_and_shares_rows_between_nested_pools():
    n, budget, reps = 40, 10, 4000
    pool = Rows.of(np.array([f"d{i}" for i in range(n)]), synthetic=False, new=True)
    counts = np.zeros(n)
    overlap = []
    for seed in range(reps):
        keys = common_keys(seed, 1, n, np.arange(n))
        drawn = draw_budget(pool, budget, np.random.default_rng(0), keys).items
        counts[[int(d[1:]) for d in drawn]] += 1
        # A pool missing two rows draws mostly the same rows.
        smaller = np.arange(2, n)
        other = draw_budget(pool.take(smaller), budget, np.random.default_rng(0), keys[smaller]).items
        overlap.append(len(set(drawn) & set(other)))
    share = counts / reps
    assert np.all(np.abs(share - budget / n) < 0.035)  # each row in a quarter of the draws (binomial sd 0.007)
    assert np.mean(overlap) > 9.3  # independent draws would share 10 * 10/38 = 2.6 rows
