"""The transfer protocol on the real transfer set, with stand-in LM columns: splits never share an article between
training and test, thresholds come from training humans, and the metrics tell a perfect score from noise."""
import numpy as np
import pytest

from benchmarks.transfer.data import transfer_set
from benchmarks.transfer.run import (
    LM_COLUMNS,
    Data,
    arms,
    evaluate,
    multilingual_fpr,
    splits,
    without_top_components,
    zero_shot,
)
from detectors.surface.style import style_features


@pytest.fixture(scope="module")
def data():
    t = transfer_set()
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(t.num_rows, 1200, replace=False))
    t = t.take(idx)
    col = lambda c: np.asarray(t[c].to_pylist())  # noqa: E731
    y = col("label") == "machine"
    lm = rng.normal(size=(t.num_rows, len(LM_COLUMNS)))
    lm[:, 0] = y + 0.01 * rng.normal(size=t.num_rows)  # a column that separates the classes perfectly
    texts = t["text"].to_pylist()
    ntokens = np.array([[len(x.split()) * 1.3] for x in texts])
    return Data(y=y, domain=col("domain"), generator=col("generator"), family=col("family"), source=col("source"),
                article=np.asarray(t["article"].to_numpy(), dtype=np.uint64), language=col("language"), lm=lm,
                extra=ntokens, states=rng.normal(size=(t.num_rows, 40)) + y[:, None] * 0.3, style=style_features(texts),
                texts=texts)


def test_transfer_set_rows_and_articles():
    t = transfer_set()
    sources = set(t["source"].to_pylist())
    assert sources == {"chat", "open", "multilingual"}
    chat_machine = [g for g, s in zip(t["generator"].to_pylist(), t["source"].to_pylist(), strict=True)
                    if s == "chat" and g != "human"]
    assert len(chat_machine) == 1200 and len(set(chat_machine)) == 4


def test_splits_never_share_an_article(data):
    for group, folds in splits(data).items():
        for train, test in folds:
            assert train.any() and test.any(), group
            assert not set(data.article[train]) & set(data.article[test]), group
            assert not (data.source[train | test] == "multilingual").any()


def test_metrics_tell_a_perfect_column_from_noise(data):
    rng = np.random.default_rng(1)
    folds = splits(data)["domain: xsum"]
    perfect = evaluate(data, zero_shot(0), folds, rng, bootstrap=50)
    noise = evaluate(data, zero_shot(1), folds, rng, bootstrap=50)
    assert perfect["auroc"] > 0.99 and perfect["tpr"] > 0.95 and perfect["fpr"] <= 0.05
    assert 0.35 < noise["auroc"] < 0.65 and noise["tpr"] < 0.2
    assert perfect["tpr_ci"][0] <= perfect["tpr"] <= perfect["tpr_ci"][1]
    removed = multilingual_fpr(data, zero_shot(1))
    assert 0 <= removed["all"] <= 0.1 and removed["rows"] == int((data.source == "multilingual").sum())


def test_every_arm_fits_and_scores(data):
    train = data.take(data.source != "multilingual")
    for name, arm in arms(with_hidden=True).items():
        scores = arm(train)(train)
        assert scores.shape == (len(train.y),) and np.isfinite(scores).mean() > 0.9, name


def test_cascade_simulation_runs_and_never_beats_the_lm_it_routes_to(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.transfer.cascade import main

    t = transfer_set()
    t = t.take(np.sort(np.random.default_rng(2).choice(t.num_rows, 600, replace=False)))
    rng = np.random.default_rng(3)
    y = np.array([v == "machine" for v in t["label"].to_pylist()])
    for c in (*LM_COLUMNS, "lm.ntokens"):
        t = t.append_column(c, pa.array(rng.normal(y * 1.5, 1.0)))
    pq.write_table(t, tmp_path / "scored.parquet")
    main([str(tmp_path / "scored.parquet"), "--labelled", "150", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "cascade.json").read_text())["rows"]
    assert rows and all(r["cascade_tpr"] <= r["lm_tpr"] + 1e-12 and 0 <= r["lm_flags_caught"] <= 1 for r in rows)
    assert "| hashed n-grams | 20% |" in (tmp_path / "cascade.md").read_text()


def test_projecting_out_components_leaves_states_orthogonal_to_them(data):
    train = data.take(data.source != "multilingual")
    removed = without_top_components(5)(train)(train)
    x = train.states - train.states.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    assert np.allclose(removed @ vt[:5].T, 0, atol=1e-6)
