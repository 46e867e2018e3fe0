"""The collapse config: what it refuses, and every shipped config file loads and fits the shared human pool."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.collapse import CollapseConfig, load, run_collapse
from benchmarks.collapse.data.human import load_text_split
from benchmarks.collapse.experiment import schedules
from benchmarks.collapse.learners.base import build
from filterkit.testing.shared import shared_data_dir
from tests.benchmarks.collapse.fakes import cfg as _cfg

CONFIGS = Path(__file__).resolve().parents[4] / "benchmarks" / "collapse" / "configs"


@pytest.mark.parametrize("field,value,listed", [
    ("learner", "lstm", "gaussian, gmm, hf, ngram, transformer"),
    ("schedule", "sometimes", "replace, fixed, accumulate, subsample"),
])
def test_unknown_learner_or_schedule_lists_valid_names(field, value, listed):
    with pytest.raises(ValueError, match=listed):
        CollapseConfig(**{field: value})


def test_unknown_config_key_and_learner_param_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown collapse config keys"):
        CollapseConfig.from_dict({"learnr": "ngram"})
    with pytest.raises(ValueError, match="unknown parameters"):
        run_collapse(_cfg(learner="gaussian", learner_params={"sigma": 2}, generations=1, seeds=1),
                     tmp_path)


def test_bad_adversary_settings_are_refused():
    with pytest.raises(ValueError, match="replay_pick"):
        CollapseConfig(replay_pick="newest")
    with pytest.raises(ValueError, match="replay_window"):
        CollapseConfig(replay_window=-1)
    with pytest.raises(ValueError, match="practitioner_folds"):
        CollapseConfig(practitioner_folds="row")


def test_every_shipped_collapse_config_loads_and_builds_its_learner():
    configs = sorted(CONFIGS.glob("*.yaml"))
    assert {"neural.yaml", "gpu_smollm2.yaml"} <= {c.name for c in configs}
    for path in configs:
        cfg = load(path)
        build(cfg.learner, cfg.learner_params)


def test_every_shipped_text_config_fits_the_shared_human_pool():
    # A config that asks for more fresh human documents than the pool holds fails only after its model loads.
    splits: dict[tuple[int, str], object] = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load(path)
        if cfg.learner not in ("ngram", "transformer", "hf"):
            continue
        key = (cfg.doc_words, cfg.trusted_by)
        if key not in splits:
            splits[key] = load_text_split(shared_data_dir(), cfg.doc_words, cfg.test_fraction, cfg.trusted_fraction,
                                          cfg.trusted_by)
        split = splits[key]
        schedule = schedules.build(cfg.schedule, cfg.samples, cfg.alpha, cfg.budget, cfg.crawl())
        need = cfg.samples + schedule.human_per_generation() * cfg.generations
        assert need <= len(split.train), f"{path.name} needs {need} human documents, the pool holds {len(split.train)}"
        assert (cfg.test_docs or 0) <= len(split.test), f"{path.name}: test_docs {cfg.test_docs} > {len(split.test)}"


def test_foreign_sources_and_validation_share_are_checked():
    assert CollapseConfig(foreign_source="older+unseen").foreign_parts() == ("older", "unseen")
    with pytest.raises(ValueError, match="foreign_source"):
        CollapseConfig(foreign_source="older+nobody")
    with pytest.raises(ValueError, match="validation_fraction"):
        CollapseConfig(validation_fraction=0.9)
    cfg = CollapseConfig.from_dict({"human_sources": ["human/wikitext2.parquet"]})
    assert cfg.human_sources == ("human/wikitext2.parquet",)


def test_validation_articles_come_only_from_training_articles():
    """With ``validation_fraction`` the test and trusted parts stay as they were; validation takes training rows."""
    base = load_text_split(shared_data_dir(), 40, 0.1, 0.1, "article", ("human/wikitext2.parquet",))
    split = load_text_split(shared_data_dir(), 40, 0.1, 0.1, "article", ("human/wikitext2.parquet",), 0.1)
    assert list(split.test) == list(base.test) and list(split.trusted) == list(base.trusted)
    assert len(split.validation) > 0 and set(split.validation) <= set(base.train)
    assert not set(split.validation) & set(split.train)
    assert len(split.train) + len(split.validation) == len(base.train)


def test_each_trusted_document_names_its_article():
    """The article keys the practitioner folds by: one per trusted document, whole articles under ``article``."""
    splits = {how: load_text_split(shared_data_dir(), 40, 0.1, 0.1, how, ("human/wikitext2.parquet",))
              for how in ("article", "row")}
    for split in splits.values():
        assert len(split.trusted_articles) == len(split.trusted) > 0
        assert all(str(k).startswith("human/wikitext2.parquet:") for k in split.trusted_articles)
    # Held out whole, the trusted articles are a few, each with many windows; drawn by row, nearly every article.
    assert len(set(splits["row"].trusted_articles)) > 3 * len(set(splits["article"].trusted_articles))
