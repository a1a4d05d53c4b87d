from __future__ import annotations

import pytest

from mlflow_monitor import DataValidationError
from mlflow_monitor.retraining.triggers import TriggerEvent, TriggerPolicy


def test_cooldown_fires_once_per_incident(clock):
    calls = []
    policy = TriggerPolicy(
        cooldown_minutes=60, callbacks=[lambda r, d: calls.append(r)], clock=clock
    )
    assert policy.fire("data_drift", {"p": 0.001}).fired
    clock.advance(30)
    assert not policy.fire("data_drift", {"p": 0.002}).fired
    assert policy.fire("performance_degradation").fired  # other reasons have their own clock
    clock.advance(31)
    assert policy.fire("data_drift").fired
    assert calls == ["data_drift", "performance_degradation", "data_drift"]
    assert policy.suppressed == 1
    assert [e.reason for e in policy.history] == calls


def test_force_ignores_the_cooldown(clock):
    policy = TriggerPolicy(cooldown_minutes=60, clock=clock)
    policy.fire("manual", force=True)
    assert policy.fire("manual", force=True).fired


def test_failing_callback_is_recorded_and_others_still_run(clock, caplog):
    seen = []

    def broken(reason, details):
        raise RuntimeError("airflow is down")

    policy = TriggerPolicy(callbacks=[broken, lambda r, d: seen.append(d)], clock=clock)
    event = policy.fire("manual", {"who": "ops"})
    assert seen == [{"who": "ops"}]
    assert event.fired
    assert len(event.callback_errors) == 1
    assert "RuntimeError: airflow is down" in event.callback_errors[0]
    assert "retraining callback" in caplog.text


def test_callbacks_get_a_copy_of_the_details(clock):
    def mutate(reason, details):
        details["oops"] = True

    policy = TriggerPolicy(callbacks=[mutate], clock=clock)
    event = policy.fire("manual", {"a": 1})
    assert event.details == {"a": 1}


def test_details_must_be_json_like(clock):
    policy = TriggerPolicy(clock=clock)
    with pytest.raises(DataValidationError, match="details must be a dict"):
        policy.fire("manual", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="reason must be a non-empty string"):
        policy.fire("")


def test_state_round_trip_keeps_history_and_cooldown(clock):
    policy = TriggerPolicy(cooldown_minutes=10, clock=clock)
    policy.fire("data_drift", {"p": 0.01})
    restored = TriggerPolicy(cooldown_minutes=10, clock=clock)
    restored.set_state(policy.get_state())
    assert list(restored.history) == list(policy.history)
    assert not restored.fire("data_drift").fired


def test_event_dict_round_trip(clock):
    event = TriggerEvent("manual", {"x": [1, 2]}, clock(), True, ("cb: boom",))
    assert TriggerEvent.from_dict(event.to_dict()) == event
