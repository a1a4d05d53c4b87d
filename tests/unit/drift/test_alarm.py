"""The drift alarm policy: calibrated run length, detection delay, the minimum effect."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mlflow_monitor import ConfigError, DriftDetector
from mlflow_monitor.drift.alarm import AlarmPolicy, cusum_threshold, run_length
from mlflow_monitor.results import DriftResult


def result(score: float, effect: float = 1.0, p_value: float = 0.5) -> DriftResult:
    return DriftResult(
        drift_detected=p_value < 0.05,
        p_value=p_value,
        distance=0.0,
        distance_threshold=0.0,
        p_val=0.05,
        n_reference=100,
        n_test=100,
        backend="builtin",
        sigma=1.0,
        features=(),
        correction="bonferroni",
        score=score,
        effect_size=effect,
    )


@pytest.mark.parametrize("expected", [100, 2000, 50_000], ids=["100", "2000", "50000"])
def test_threshold_gives_the_expected_run_length(expected):
    threshold = cusum_threshold(expected, 1.0)
    assert run_length(threshold, 1.0) == pytest.approx(expected, rel=1e-6)


def test_run_length_without_drift_matches_the_calibration():
    # N(0, 1) scores (calibrated p-values without drift): the mean number of checks to a
    # false alarm is the configured one, within the spread of 300 seeded runs.
    rng = np.random.default_rng(3)
    policy = AlarmPolicy(expected_checks=200)
    lengths = []
    for _ in range(300):
        policy.set_state(None)
        checks = 0
        while True:
            checks += 1
            if policy.update(result(float(rng.standard_normal()))).fired:
                break
        lengths.append(checks)
    mean, sem = np.mean(lengths), np.std(lengths) / math.sqrt(len(lengths))
    assert abs(mean - 200) < 3 * sem + 20, (mean, sem)


def test_a_strong_check_fires_at_once_and_two_moderate_ones_at_the_second():
    policy = AlarmPolicy()
    assert policy.update(result(4.5)).fired
    assert policy.state.statistic == 0.0  # evidence starts again after an alarm
    first = policy.update(result(2.7))
    assert not first.fired and first.checks == 1
    second = policy.update(result(2.7))
    assert second.fired and second.checks == 2
    assert "2 consecutive checks" in second.reason


def test_healthy_checks_drain_the_evidence():
    policy = AlarmPolicy()
    policy.update(result(2.7))
    drained = policy.update(result(-1.0))
    assert drained.statistic == 0.0 and drained.checks == 0
    assert not policy.update(result(2.7)).fired


def test_an_effect_below_drift_min_effect_adds_no_evidence():
    policy = AlarmPolicy(min_effect=0.2)
    for _ in range(50):
        alarm = policy.update(result(8.0, effect=0.19, p_value=1e-30))
        assert not alarm.fired and alarm.statistic == 0.0
    assert "below drift_min_effect" in alarm.reason
    assert policy.update(result(8.0, effect=0.21, p_value=1e-30)).fired


def test_min_effect_holds_at_any_sample_size():
    # 0.08 SD is significant with 8000 rows a side, but below a minimum effect of 0.1.
    rng = np.random.default_rng(11)
    detector = DriftDetector(p_val=0.1, n_permutations=20, random_seed=0)
    detector.fit(rng.normal(size=(8000, 1)))
    shifted = detector.detect(rng.normal(0.08, 1.0, size=(8000, 1)))
    assert shifted.drift_detected and shifted.effect_size < 0.1
    policy = AlarmPolicy(min_effect=0.1)
    assert not any(policy.update(replace(shifted, score=8.0)).fired for _ in range(20))


def test_state_round_trips():
    policy = AlarmPolicy()
    policy.update(result(2.7))
    restored = AlarmPolicy()
    restored.set_state(policy.get_state())
    assert restored.state == policy.state
    assert restored.update(result(2.7)).fired


def test_adopt_takes_only_newer_evidence():
    leader, follower = AlarmPolicy(), AlarmPolicy()
    first = result(2.7)
    follower.adopt(leader.update(first), first.timestamp)
    assert follower.state.statistic == pytest.approx(1.2)
    follower.adopt(replace(leader.update(first), statistic=0.0), first.timestamp)
    assert follower.state.statistic == pytest.approx(1.2)  # not newer: ignored


@pytest.mark.parametrize(
    "kwargs",
    [{"expected_checks": 1}, {"allowance": 0}, {"min_effect": -1}, {"expected_checks": True}],
    ids=["checks", "allowance", "effect", "bool"],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        AlarmPolicy(**kwargs)
