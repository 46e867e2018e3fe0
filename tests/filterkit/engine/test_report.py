"""The human report (#30): reasons and how they overlap, what the statistics cover, plots a data engineer reads, and
user-supplied strings written as text, never as terminal escapes or Markdown."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.engine.report import _code, _md, printable
from filterkit.testing.corpora import write

_WORDS = "the a river town market square morning old bright walked under sky cat dog house".split()


def _corpus(tmp_path, rows: int = 160) -> list[str]:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(_WORDS, 30)) for _ in range(rows)]
    texts += texts[:20]  # exact copies, also near copies
    texts += [t + " extra" for t in texts[20:30]]  # near copies only
    texts += ["tHe rIver aNd tHe tOwn wAlked uNder tHe sKy"] * 2  # case swaps, and an exact copy
    write(tmp_path / "in" / "a.parquet", pa.table({"text": texts}))
    return texts


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run whose rules overlap, with its figure caught as it is saved."""
    from matplotlib.figure import Figure

    tmp_path = tmp_path_factory.mktemp("report")
    _corpus(tmp_path)
    figures = []
    save = Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    Figure.savefig = keep
    try:
        cfg = FilterConfig(detectors=(DetectorSpec("exact"), DetectorSpec("minhash"), DetectorSpec("length"),
                                      DetectorSpec("obfuscation")))
        result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg)
    finally:
        Figure.savefig = save
    (figure,) = figures
    return result, figure


def _panel(figure, title: str):
    (ax,) = [a for a in figure.axes if title in (a.get_title(loc="left").split("  ")[0], a.get_xlabel())]
    return ax


def test_reasons_overlap_is_counted_and_said(run):
    result, _ = run
    report = result.report
    overlap = report["reason_overlap"]
    assert overlap["rows_one_reason"] + overlap["rows_several_reasons"] == report["counts"]["flagged"]
    assert sum(report["filter_reasons"].values()) > report["counts"]["removed"]  # they overlap here
    assert sum(overlap["alone"].values()) == overlap["rows_one_reason"]
    assert sum(overlap["combinations"].values()) == overlap["rows_several_reasons"]
    md = (result.out / "report" / "report.md").read_text()
    assert "A row can be removed by several rules at once" in md
    assert f"**{overlap['rows_one_reason']:,}** rows were removed for exactly one reason" in md
    assert "| reasons together | rows |" in md
    assert json.loads((result.out / "report.json").read_text())["reason_overlap"] == overlap


def test_the_report_says_what_its_statistics_cover(run):
    result, _ = run
    md = (result.out / "report" / "report.md").read_text()
    scored = result.report["counts"]["kept"] + result.report["counts"]["removed"]
    assert f"covers the {scored:,} scored rows" in md and "NaN: the detector abstained" in md
    assert "| column | scored | NaN (abstained) |" in md
    flag = result.report["scores"]["exact.is_duplicate"]
    assert flag["kind"] == "flag" and flag["true"] == 21
    assert f"| `exact.is_duplicate` | {scored:,} | 0 | 21 true (" in md


def test_flags_are_bars_of_counts_not_histograms(run):
    _, figure = run
    for column in ("exact.is_duplicate", "minhash.is_duplicate"):
        ax = _panel(figure, column)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["false", "true"]
        assert len(ax.patches) == 4  # kept and removed, for false and true: not 50 bins of 0/1
    assert "21" in {t.get_text() for t in _panel(figure, "exact.is_duplicate").texts}  # each bar's count written


def test_whole_number_columns_are_a_bar_per_value(run):
    _, figure = run
    ax = _panel(figure, "exact.cluster_size")
    assert len(ax.patches) == 2 * 2  # sizes 1 and 2 (every copy has one original): not 50 bins
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]


def test_each_rules_threshold_is_drawn_on_its_column(run):
    result, figure = run
    ax = _panel(figure, "obfuscation.mixed_case")
    (rule,) = [r for r in result.report["rules"] if r["column"] == "obfuscation.mixed_case"]
    assert [line.get_xdata()[0] for line in ax.lines] == [rule["threshold"]]
    assert any(t.get_text() == f"{rule['op']} {rule['threshold']:g}" for t in ax.texts)


def test_axes_are_readable_and_the_legend_is_outside_the_data(run):
    _, figure = run
    for ax in figure.axes:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert not any("$" in t or "10^" in t for t in labels), labels  # "1, 10, 100", never "10⁰"
        if ax.get_yscale() == "log":
            assert "1" in labels and ax.get_ylabel() == "rows (log scale)"
        legend = ax.get_legend()
        if legend is not None:  # the reasons panel's key sits above its axes
            assert legend.get_bbox_to_anchor().y0 >= ax.get_window_extent().y1 - 1
    assert len(figure.legends) == 1  # kept / removed / threshold: one key for every panel, above them
    assert any(ax.get_yscale() == "log" for ax in figure.axes)


def test_the_reasons_panel_shows_rows_alone_and_shared(run):
    result, figure = run
    ax = _panel(figure, "rows removed per reason")
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert set(names) == set(result.report["filter_reasons"])
    assert len(ax.patches) == 2 * len(names)


def test_user_strings_are_escaped():
    assert printable("a\x1b[31mb\x07c\u202ed\ne") == "a\\x1b[31mb\\x07c\\u202ed\\ne"
    assert printable("naïve 日本 ok") == "naïve 日本 ok"
    assert _md("x|y*z_`[a](b)<i>") == "x\\|y\\*z\\_\\`\\[a\\](b)\\<i\\>"
    assert _code("a`b|c") == "``a`b\\|c``" and _code("`x") == "`` `x ``"


def test_report_md_of_a_file_with_escapes_in_its_name(tmp_path):
    write(tmp_path / "in" / "good.parquet", pa.table({"text": ["a", "b"]}))
    (tmp_path / "in" / "bad\x1b[2J|name`.parquet").write_bytes(b"PAR1 not parquet")
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o")
    md = (result.out / "report" / "report.md").read_text()
    assert "\x1b" not in md
    assert "- ``bad\\x1b[2J\\|name` .parquet``" not in md  # the fence is longer than any backtick run inside
    assert "``bad\\x1b[2J\\|name`.parquet``" in md


def test_filterkit_report_draws_the_same_report_again(run):
    from filterkit.engine.report import render_report
    from filterkit.io.layout import Layout

    result, _ = run
    md = (result.out / "report" / "report.md").read_bytes()
    (result.out / "report" / "report.md").unlink()
    render_report(Layout(result.out), json.loads((result.out / "report.json").read_text()))
    assert (result.out / "report" / "report.md").read_bytes() == md
