"""The monitor acts on drift alarms, not on single significant checks; the alarm's evidence
survives a state file and a change of the process that runs the checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import create_monitor, load_monitor

COLUMNS = ["a", "b", "c"]

# The model and version labels of a monitor on the default options.
DEFAULT_LABELS = {"model": "default", "version": "0"}


def options(tmp_path=None, **extra):
    base = {
        "drift_min_samples": 100,
        "drift_window_size": 100,
        "random_seed": 0,
        "enable_performance_tracking": False,
        "retraining_cooldown_minutes": 0,
    }
    if tmp_path is not None:
        base["store_uri"] = f"sqlite:///{tmp_path}/inference.db"
    return {**base, **extra}


def set_up(monitor, rng):
    monitor.setup_drift_detection(pd.DataFrame(rng.normal(size=(1000, 3)), columns=COLUMNS))


def check(monitor, rng, shift):
    rows = rng.normal(size=(100, 3))
    rows[:, 0] += shift
    monitor.record_predictions([1] * 100, features=rows)
    monitor.store.flush()
    return monitor.check_drift()


def test_a_significant_check_without_an_alarm_triggers_nothing(rng, registry):
    monitor = create_monitor(options(), registry=registry)
    fired = []
    monitor.add_retraining_callback(lambda reason, details: fired.append(details))
    set_up(monitor, rng)
    results = [check(monitor, rng, 0.0) for _ in range(40)]
    significant = [r for r in results if r.status == "drift"]
    assert significant, "some healthy windows are significant at 5%"
    assert not any(r.triggered for r in results) and fired == []
    assert all(r.drift.alarm is not None and not r.drift.alarm.fired for r in results)
    assert registry.get_sample_value("fake_review_detection_drift_alarm", DEFAULT_LABELS) == 0


def test_a_real_shift_fires_the_alarm_and_names_the_feature(rng, registry):
    monitor = create_monitor(options(), registry=registry)
    fired = []
    monitor.add_retraining_callback(lambda reason, details: fired.append((reason, details)))
    set_up(monitor, rng)
    result = check(monitor, rng, 1.0)
    assert result.triggered and result.drift.alarm.fired
    ((reason, details),) = fired
    assert reason == "data_drift"
    assert details["attribution"][0]["name"] == "a"
    assert details["alarm"]["fired"] and "over this check" in details["alarm"]["reason"]
    assert registry.get_sample_value("fake_review_detection_drift_alarm", DEFAULT_LABELS) == 1


def moderate_evidence(monitor, rng):
    """Checks until some evidence is accumulated but the alarm has not fired."""
    for _ in range(50):
        result = check(monitor, rng, 0.3)
        alarm = result.drift.alarm
        if alarm.fired:
            continue
        if alarm.statistic > 0.5:
            return alarm.statistic
    pytest.fail("no check left evidence short of an alarm")


def test_the_evidence_survives_save_and_load(rng, tmp_path):
    monitor = create_monitor(options())
    set_up(monitor, rng)
    evidence = moderate_evidence(monitor, rng)
    monitor.save_state(tmp_path / "state.npz")
    restored = load_monitor(tmp_path / "state.npz")
    assert restored.drift_alarm.state.statistic == pytest.approx(evidence)
    assert restored.drift_alarm.state.checks == monitor.drift_alarm.state.checks


def test_a_new_leader_continues_the_former_ones_evidence(rng, tmp_path):
    former, successor = create_monitor(options(tmp_path)), create_monitor(options(tmp_path))
    try:
        for m in (former, successor):
            set_up(m, np.random.default_rng(5))  # the same reference in every process
        evidence = moderate_evidence(former, rng)
        checks_so_far = former.drift_alarm.state.checks
        assert successor.drift_alarm.state.statistic == 0.0
        alarm = check(successor, rng, 0.3).drift.alarm
        # the former leader's evidence plus this check's, not this check's alone
        assert alarm.statistic == pytest.approx(max(0.0, evidence + alarm.score - alarm.allowance))
        if alarm.statistic > 0:
            assert alarm.checks == checks_so_far + 1
    finally:
        former.close()
        successor.close()


def test_the_alarm_options_reach_the_policy():
    monitor = create_monitor(
        {"drift_alarm_checks": 500, "drift_alarm_allowance": 1.5, "drift_min_effect": 0.3}
    )
    policy = monitor.drift_alarm
    assert (policy.expected_checks, policy.allowance, policy.min_effect) == (500, 1.5, 0.3)


@pytest.mark.parametrize(
    "option",
    [
        {"drift_alarm_checks": 1},
        {"drift_alarm_allowance": 0},
        {"drift_min_effect": -0.1},
        {"drift_min_effect": float("nan")},
    ],
    ids=["checks", "allowance", "effect", "nan"],
)
def test_bad_alarm_options_are_refused(option):
    from mlflow_monitor import ConfigError

    with pytest.raises(ConfigError, match=next(iter(option))):
        create_monitor(option)
