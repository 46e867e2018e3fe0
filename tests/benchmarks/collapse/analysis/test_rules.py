"""When a lineage collapsed: the first rule to fire, a recorded breakdown, or censoring at the horizon."""
from __future__ import annotations

from benchmarks.collapse.analysis.rules import CollapseRule, collapse_time


def _rec(g, **m):
    return {"arm": "a", "seed": 0, "generation": g, **m}


def test_collapse_time_first_rule_to_fire_and_censoring():
    rules = (CollapseRule("test_ce", ">=", 1.10), CollapseRule("sigma_ratio", "<", 0.5, relative=False))
    rows = [_rec(0, test_ce=2.0, sigma_ratio=1.0), _rec(1, test_ce=2.1, sigma_ratio=0.9),
            _rec(2, test_ce=2.3, sigma_ratio=0.8), _rec(3, test_ce=2.0, sigma_ratio=0.1)]
    assert collapse_time(rows, rules, 3)[:2] == (2, False)
    assert collapse_time(rows[:2], rules, 3) == (3, True, "censored")
    crashed = rows[:2] + [_rec(2, test_ce=None, collapsed=1, collapse_reason="every sample was empty")]
    assert collapse_time(crashed, rules, 3) == (2, False, "every sample was empty")
