import numpy as np
import pyarrow as pa
import pytest

from filterkit.stage.rules import FilterStage, Rule, WeightSpec


def table():
    return pa.table({"a.x": [0.1, 0.9, np.nan, 0.6], "b.y": [5.0, 1.0, 9.0, 7.0]})


def test_any_combines_and_nan_abstains():
    stage = FilterStage(rules=(Rule("a.x", ">=", 0.5, "machine"), Rule("b.y", ">", 6.0)))
    d = stage.decide(table())
    assert d.remove.tolist() == [False, True, True, True]
    assert d.reason.to_pylist() == [None, "machine", "b.y>6", "machine;b.y>6"]


def test_all_requires_every_rule():
    stage = FilterStage(rules=(Rule("a.x", ">=", 0.5), Rule("b.y", ">", 6.0)), combine="all")
    assert stage.decide(table()).remove.tolist() == [False, False, False, True]


def test_weight_is_zero_for_removed_and_power_of_human_probability():
    stage = FilterStage(rules=(Rule("b.y", ">", 8.0),), weight=WeightSpec("a.x", power=2))
    w = stage.decide(table()).weight
    assert w == pytest.approx([0.81, 0.01, 0.0, 0.16])


def test_missing_column_names_what_is_there():
    with pytest.raises(KeyError, match="a.x"):
        FilterStage(rules=(Rule("nope.z"),)).decide(table())


def test_bad_op_rejected():
    with pytest.raises(ValueError, match="op"):
        Rule("a.x", "=>", 1.0)


def test_per_bucket_thresholds_by_category_and_by_length():
    t = pa.table({"p": [0.6, 0.6, 0.6, 0.6], "domain": ["news", "code", "news", "x"], "n": [10.0, 10.0, 500.0, 80.0]})
    by_domain = Rule("p", ">=", 0.5, by="domain", thresholds={"code": 0.9})
    assert by_domain.fires(t).tolist() == [True, False, True, True]
    by_length = Rule("p", ">=", 0.5, by="n", edges=(50, 100), thresholds={"<50": 0.7, ">=100": 0.55})
    assert by_length.buckets(t).tolist() == ["<50", "<50", ">=100", "50-100"]
    assert by_length.fires(t).tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="need 'by'"):
        Rule("p", thresholds={"a": 1.0})
