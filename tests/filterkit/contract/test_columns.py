"""Columns are declared once, in ``scores``: what is derived from the declaration, what is refused, and a run that
refuses a detector whose output differs from it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filterkit import DetectorSpec, FilterConfig, run
from filterkit.contract.detector import TEXT, Column, ColumnError, RowDetector, column_problems
from filterkit.engine.scoring import score_rows


@dataclass
class Declared(RowDetector):
    name = "declared"
    scores = ("chars", Column("flag", pa.bool_()), Column("extra", when="extra_on"),
              Column("reason", pa.string(), reason=True))
    extra_on: bool = False

    def score(self, batch: pa.Table) -> pa.Table:
        texts = batch[TEXT].to_pylist()
        out = {"declared.chars": [float(len(t)) for t in texts], "declared.flag": [len(t) > 3 for t in texts],
               "declared.reason": pa.nulls(len(texts), pa.string())}
        if self.extra_on:
            out["declared.extra"] = [0.0] * len(texts)
        return pa.table(out)


@dataclass
class ReturnsMore(Declared):
    """Declares what ``Declared`` declares and returns one more column: a run refuses it."""

    def score(self, batch: pa.Table) -> pa.Table:
        out = super().score(batch)
        return out.append_column("declared.surprise", pa.array([1.0] * out.num_rows))


def test_columns_and_schema_derive_from_the_one_declaration():
    assert Declared.scores[0] == Column("chars", pa.float64())  # a plain name is a float64 score
    det = Declared()
    assert det.columns == ["declared.chars", "declared.flag", "declared.reason"]
    assert det.schema.field("declared.flag").type == pa.bool_()
    assert det.reason_column == "declared.reason"
    on = dataclasses.replace(det, extra_on=True)  # the one way to change a parameter: a new detector
    assert on.columns == ["declared.chars", "declared.flag", "declared.extra", "declared.reason"]
    assert det.extra_on is False


def test_a_second_declaration_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match="derived from `scores`"):
        type("Overrides", (Declared,), {"columns": property(lambda self: ["declared.chars"])})
    with pytest.raises(TypeError, match="twice"):
        type("Twice", (Declared,), {"scores": ("a", Column("a"))})
    with pytest.raises(TypeError, match="reason column"):
        type("BadReason", (Declared,), {"scores": (Column("why", pa.float64(), reason=True),)})
    with pytest.raises(TypeError, match="not one of its parameters"):
        type("NoSuchParameter", (Declared,), {"scores": (Column("x", when="missing"),)})().columns  # noqa: B018


def test_column_problems_name_each_column():
    det = Declared()
    schema = pa.schema([("declared.chars", pa.int64()), ("declared.extra", pa.float64()), ("other", pa.string())])
    problems = column_problems(det, schema)
    assert "declared column 'declared.flag' is missing" in problems
    assert "column 'declared.chars' has type int64, declared double" in problems
    assert any("'declared.extra'" in p and "'extra_on'" in p for p in problems)
    assert any("'other' is returned but not declared" in p for p in problems)
    hidden = Column("hidden", pa.list_(pa.float16()))
    assert hidden.accepts(pa.list_(pa.float16(), 64)) and not hidden.accepts(pa.list_(pa.float32(), 64))


def test_a_run_refuses_a_detector_that_returns_an_undeclared_column(tmp_path):
    pq.write_table(pa.table({"text": ["some text", "more text"] * 8}), tmp_path / "in.parquet")
    spec = DetectorSpec(f"{__name__}:ReturnsMore")
    # The task fails (retried, then reported) rather than quarantining rows: no row is to blame.
    failed = run([str(tmp_path / "in.parquet")], tmp_path / "out", FilterConfig(detectors=(spec,)))
    assert not failed.ok and failed.report["counts"]["quarantined"] == 0
    (task,) = failed.report["failed_tasks"]
    assert "ColumnError" in task["error"] and "'declared.surprise' is returned but not declared" in task["error"]
    with pytest.raises(ColumnError, match="declared.surprise"):  # raised at once, not retried row by row
        score_rows((ReturnsMore(),), pa.table({"text": ["a", "b"], "source_row": [0, 1]}), "text", "test")
    ok = run([str(tmp_path / "in.parquet")], tmp_path / "ok", FilterConfig(detectors=(DetectorSpec(
        f"{__name__}:Declared", {"extra_on": True}),), mode="tag"))
    assert ok.ok
    written = pq.read_table(next((tmp_path / "ok" / "kept").glob("*.parquet")))
    assert {c for c in written.column_names if c.startswith("declared.")} == set(Declared(extra_on=True).columns)
    assert written.schema.field("declared.flag").type == pa.bool_()
