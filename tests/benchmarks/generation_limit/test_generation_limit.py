"""The generation-with-replay simulation: convergence without replay, the size-4 trap, filters, the files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.generation_limit.languages import chain_class, four_class, random_class
from benchmarks.generation_limit.play import VALID, Adversary, Filter, play
from benchmarks.generation_limit.run import GenerationLimitConfig, run_experiment

HORIZON = 150
SEEDS = range(6)


def _last_bad(verdict: np.ndarray) -> int:
    bad = np.flatnonzero(verdict != VALID)
    return int(bad[-1]) + 1 if len(bad) else 0


NO_FILTER = Filter()


def _games(cls, target, adversary, generator, filt=NO_FILTER):
    return [play(cls, target, adversary, generator, filt, HORIZON, np.random.default_rng(s)) for s in SEEDS]


@pytest.mark.parametrize("generator", ["km", "proper", "closure"])
@pytest.mark.parametrize("target", ["6N", "2N", "2N|3N", "3N+1"])
def test_generators_converge_without_replay_on_the_chain_class(generator: str, target: str) -> None:
    for tr in _games(chain_class(2000), target, Adversary("ambiguous", "none"), generator):
        assert _last_bad(tr.verdict) <= 40, (generator, target, tr.verdict[:50])


def test_proper_generator_is_trapped_by_replay_on_the_size4_class() -> None:
    cls = four_class(2000)
    with_replay = _games(cls, "A=2N", Adversary("adaptive", "adversarial"), "proper")
    without = _games(cls, "A=2N", Adversary("adaptive", "none"), "proper")
    for tr in with_replay:
        assert tr.invalid_replays_seen > 0
        assert (tr.verdict[-30:] != VALID).any(), "still emitting invalid strings near the horizon"
        assert not tr.hypothesis_ok[-1]  # stuck on U, which is not inside the target
    for tr in without:
        assert _last_bad(tr.verdict) <= 20
        assert tr.hypothesis_ok[-1]


def test_perfect_filter_restores_convergence() -> None:
    cls = four_class(2000)
    for kind in ("provenance", "output_index"):
        for gen in ("km", "proper"):
            for tr in _games(cls, "A=2N", Adversary("adaptive", "all"), gen, Filter(kind)):
                assert tr.replays > 0 and tr.invalid_replays_seen == 0
                assert _last_bad(tr.verdict) <= 20, (kind, gen)


def test_closure_generator_is_unaffected_by_replay() -> None:
    cls = random_class("r", np.random.default_rng(3), universe=2000, with_union=True)
    for target in cls.names:
        for tr in _games(cls, target, Adversary("ambiguous", "all"), "closure"):
            assert (tr.verdict[cls.closure_bound():] == VALID).all()


def test_weak_detector_lets_poison_through_more_often() -> None:
    cls = four_class(2000)
    poisoned = {p: np.mean([tr.invalid_replays_seen > 0 for tr in
                            [play(cls, "A=2N", Adversary("adaptive", "adversarial"), "km", Filter("detector", tpr=p),
                                  80, np.random.default_rng(s)) for s in range(30)]]) for p in (0.2, 1.0)}
    assert poisoned[1.0] == 0.0
    assert poisoned[0.2] > 0.5


def test_experiment_writes_its_files(tmp_path) -> None:
    config = GenerationLimitConfig(horizon=40, seeds=2, universe=600, random_classes=1, tprs=(0.9,))
    result = run_experiment(config, tmp_path, command="python -m benchmarks.generation_limit -o X")
    for name in ("results.json", "results.md", "results.png"):
        assert (tmp_path / name).stat().st_size > 0
    md = (tmp_path / "results.md").read_text()
    assert md.splitlines()[0] == "`python -m benchmarks.generation_limit -o X`"
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["rows"]) == len(result["rows"]) > 0
    assert set(data["curves_four_adaptive"]) == {"km", "proper", "closure"}
