"""Statistical behaviour of drift checks and alarms over seeded trials: the level of one
check for a given reference, false alarms without drift, detection delay, attribution."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import DriftDetector
from mlflow_monitor.drift.alarm import AlarmPolicy

pytestmark = pytest.mark.slow


def detector(reference: np.ndarray, seed: int, p_val: float = 0.05) -> DriftDetector:
    return DriftDetector(p_val=p_val, random_seed=seed).fit(reference)


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["ref0", "ref1", "ref2"])
def test_level_of_one_check_holds_for_the_given_reference(seed):
    # One fixed reference, 300 fresh windows from its distribution: the rate of significant
    # checks stays in [0.5, 1.6] x the level (here 0.1; +-2 binomial SDs is +-0.035).
    rng = np.random.default_rng(seed)
    checks = detector(rng.normal(size=(1000, 4)), seed, p_val=0.1)
    rate = np.mean([checks.detect(rng.normal(size=(50, 4))).drift_detected for _ in range(300)])
    assert 0.05 <= rate <= 0.16, rate


def test_no_false_alarms_on_healthy_traffic():
    # Three references, 200 healthy checks each, the default policy (one false alarm
    # expected in 5000 checks): none fires, while single checks are significant at ~5%.
    alarms = significant = 0
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        checks, policy = detector(rng.normal(size=(1000, 4)), seed), AlarmPolicy(min_effect=0.1)
        for _ in range(200):
            result = checks.detect(rng.normal(size=(100, 4)))
            significant += result.drift_detected
            alarms += policy.update(result).fired
    assert alarms == 0
    assert significant >= 10  # the per-check verdict still says what it said


def test_a_half_sd_shift_of_one_feature_alarms_within_two_checks():
    caught = 0
    for trial in range(10):
        rng = np.random.default_rng(200 + trial)
        checks, policy = detector(rng.normal(size=(1000, 8)), trial), AlarmPolicy(min_effect=0.1)
        for _ in range(2):
            window = rng.normal(size=(200, 8))
            window[:, 3] += 0.5
            if policy.update(checks.detect(window)).fired:
                caught += 1
                break
    assert caught >= 9, caught


def test_the_shifted_feature_of_thirty_ranks_first():
    top = 0
    for trial in range(20):
        rng = np.random.default_rng(300 + trial)
        shifted = int(rng.integers(30))
        window = rng.normal(size=(200, 30))
        window[:, shifted] += 0.5
        result = detector(rng.normal(size=(1000, 30)), trial).detect(window)
        assert result.attribution and sum(a.share for a in result.attribution) == pytest.approx(1)
        top += result.attribution[0].name == f"feature_{shifted}"
    assert top >= 18, top
