from __future__ import annotations

import json
import threading
import time

import pytest

from mlflow_monitor import ConfigError
from mlflow_monitor.retraining.launcher import ProjectLauncher, RetrainInFlightError
from mlflow_monitor.retraining.triggers import TriggerPolicy


class FakeSubmittedRun:
    """A run that stays RUNNING until the test calls finish()."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.finished = threading.Event()
        self.waited = threading.Event()

    def get_status(self) -> str:
        return "FINISHED" if self.finished.is_set() else "RUNNING"

    def finish(self) -> None:
        self.finished.set()

    def wait(self) -> bool:
        self.finished.wait(10)
        self.waited.set()
        return True


class FakeProjects:
    """Records mlflow.projects.run calls and hands out fake submitted runs."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.runs: list[FakeSubmittedRun] = []

    def __call__(self, uri, **kwargs):
        self.calls.append({"uri": uri, **kwargs})
        self.runs.append(FakeSubmittedRun(f"run-{len(self.runs)}"))
        return self.runs[-1]


def test_launch_passes_the_trigger_as_parameters():
    projects = FakeProjects()
    launcher = ProjectLauncher(
        ".", "reviews", parameters={"data": "d.parquet"}, run_project=projects
    )
    run_id = launcher("data_drift", {"p_value": 0.001, "check_run_id": "abc"})
    assert run_id == "run-0"
    call = projects.calls[0]
    assert call["uri"] == "." and call["entry_point"] == "retrain"
    assert call["synchronous"] is False and call["env_manager"] == "local"
    assert call["parameters"]["model_name"] == "reviews"
    assert call["parameters"]["trigger_reason"] == "data_drift"
    assert call["parameters"]["check_run_id"] == "abc"
    assert call["parameters"]["data"] == "d.parquet"
    assert json.loads(call["parameters"]["trigger_details"])["p_value"] == 0.001


def test_no_second_run_while_one_is_in_flight():
    projects = FakeProjects()
    launcher = ProjectLauncher(".", "reviews", run_project=projects)
    launcher("manual", {})
    with pytest.raises(RetrainInFlightError, match="run-0 is still running"):
        launcher("manual", {})
    projects.runs[0].finish()
    assert launcher.wait() == "FINISHED"
    assert launcher("manual", {}) == "run-1"


def test_finished_runs_are_reaped_in_the_background():
    projects = FakeProjects()
    ProjectLauncher(".", "reviews", run_project=projects)("manual", {})
    run = projects.runs[0]
    assert not run.waited.wait(0.2)  # still running: the reaper waits with it
    run.finish()
    assert run.waited.wait(5)  # nobody called wait(); the reaper did


def test_trigger_history_records_the_run_id_and_in_flight_refusals(clock):
    projects = FakeProjects()
    launcher = ProjectLauncher(".", "reviews", run_project=projects)
    policy = TriggerPolicy(cooldown_minutes=0, clock=clock, launcher=launcher)
    first = policy.fire("data_drift", {"p_value": 0.01})
    second = policy.fire("data_drift", {"p_value": 0.01})
    assert first.retrain_run_id == "run-0" and not first.callback_errors
    assert second.retrain_run_id is None
    assert "still running" in second.callback_errors[0]
    assert len(projects.calls) == 1
    assert policy.history[0].to_dict()["retrain_run_id"] == "run-0"


def test_a_failing_launch_is_recorded(clock):
    def broken(uri, **kwargs):
        raise RuntimeError("no MLproject file")

    policy = TriggerPolicy(clock=clock, launcher=ProjectLauncher(".", "m", run_project=broken))
    event = policy.fire("manual", {})
    assert event.fired and "RuntimeError: no MLproject file" in event.callback_errors[0]


def test_project_uri_is_required():
    with pytest.raises(ConfigError, match="retrain_project_uri"):
        ProjectLauncher("", "reviews")


class FailingRun(FakeSubmittedRun):
    """A run that ends FAILED when finished."""

    def get_status(self) -> str:
        return "FAILED" if self.finished.is_set() else "RUNNING"


def test_a_run_that_fails_after_launch_is_recorded_in_the_trigger_history(clock, caplog):
    runs: list[FailingRun] = []

    def launch(uri, **kwargs):
        runs.append(FailingRun(f"run-{len(runs)}"))
        return runs[-1]

    policy = TriggerPolicy(
        cooldown_minutes=0, clock=clock, launcher=ProjectLauncher(".", "m", run_project=launch)
    )
    event = policy.fire("data_drift", {"p_value": 0.001})
    assert (event.retrain_run_id, event.retrain_status) == ("run-0", "RUNNING")
    runs[0].finish()
    assert runs[0].waited.wait(5)
    for _ in range(100):  # the reaper records the end right after waiting
        if policy.history[-1].retrain_status != "RUNNING":
            break
        time.sleep(0.05)
    ended = policy.history[-1]
    assert ended.retrain_status == "FAILED"
    assert ended.callback_errors == ("retraining run run-0: ended FAILED",)
    assert ended.to_dict()["retrain_status"] == "FAILED"
    assert "retraining run run-0 ended: FAILED" in caplog.text
    # The failed run does not block the next one.
    assert policy.fire("data_drift", {}).retrain_run_id == "run-1"
