"""The tags of check runs: their keys, and what each check's run is tagged with.

Every check run is tagged with its role (``check``; the history run's is ``history``), the model
name and version, the check kind, its outcome, an id that a retry finds it by, whether it
triggered retraining and the host and process that ran it. A check with a reason (a skip, a
degradation) carries the reason; a drift check also names its drifted features and, when the
drift alarm ran, whether it fired and why. The parent-run tag makes the run a child of the
model version's history run in MLflow's UI.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from mlflow_monitor.results import CheckResult

__all__ = [
    "MAX_TAG_VALUE",
    "NOTE",
    "ROLE_CHECK",
    "ROLE_HISTORY",
    "TAG_ALARM",
    "TAG_ALARM_REASON",
    "TAG_CHECK",
    "TAG_CHECK_ID",
    "TAG_DRIFTED_FEATURES",
    "TAG_MODEL_NAME",
    "TAG_MODEL_VERSION",
    "TAG_OUTCOME",
    "TAG_REASON",
    "TAG_ROLE",
    "TAG_TRIGGERED",
    "TAG_WORKER",
    "check_tags",
    "submitted_tags",
]

TAG_MODEL_NAME = "mlflow_monitor.model_name"
TAG_MODEL_VERSION = "mlflow_monitor.model_version"
TAG_CHECK = "mlflow_monitor.check"
TAG_OUTCOME = "mlflow_monitor.outcome"
TAG_ROLE = "mlflow_monitor.role"
TAG_CHECK_ID = "mlflow_monitor.check_id"
TAG_REASON = "mlflow_monitor.reason"
TAG_TRIGGERED = "mlflow_monitor.triggered"
TAG_DRIFTED_FEATURES = "mlflow_monitor.drifted_features"
TAG_WORKER = "mlflow_monitor.worker"  # host:pid of the process that ran the check
TAG_ALARM = "mlflow_monitor.drift_alarm"  # "fired" or "not fired"
TAG_ALARM_REASON = "mlflow_monitor.drift_alarm_reason"
ROLE_CHECK = "check"
ROLE_HISTORY = "history"
NOTE = "mlflow.note.content"  # the description MLflow's UI shows on a run or experiment
_PARENT_RUN_ID = "mlflow.parentRunId"
MAX_TAG_VALUE = 5000  # well under MLflow's 8000


def submitted_tags(extra_tags: Mapping[str, Any] | None) -> dict[str, str]:
    """The tags a check gets when it is handed to the logger: the process that ran it and the
    caller's ``extra_tags``, as strings cut to the length MLflow takes."""
    tags = {TAG_WORKER: f"{socket.gethostname()}:{os.getpid()}"}
    tags.update({str(k): str(v)[:MAX_TAG_VALUE] for k, v in (extra_tags or {}).items()})
    return tags


def check_tags(
    result: CheckResult,
    *,
    check_id: str,
    model_name: str,
    model_version: str,
    history_id: str,
    extra_tags: Mapping[str, str],
) -> dict[str, str]:
    """All the tags of ``result``'s run, a child of the history run ``history_id``.

    ``extra_tags`` (from :func:`submitted_tags`) go first, so the monitor's own tags win.
    """
    tags = {
        **extra_tags,
        TAG_ROLE: ROLE_CHECK,
        TAG_MODEL_NAME: model_name,
        TAG_MODEL_VERSION: model_version,
        TAG_CHECK: result.kind,
        TAG_OUTCOME: result.status,
        TAG_CHECK_ID: check_id,
        TAG_TRIGGERED: str(result.triggered).lower(),
        _PARENT_RUN_ID: history_id,
    }
    if result.reason:
        tags[TAG_REASON] = result.reason[:MAX_TAG_VALUE]
    if result.drift is not None and result.drift.drifted_features:
        tags[TAG_DRIFTED_FEATURES] = ", ".join(result.drift.drifted_features)[:MAX_TAG_VALUE]
    alarm = None if result.drift is None else result.drift.alarm
    if alarm is not None:
        tags[TAG_ALARM] = "fired" if alarm.fired else "not fired"
        tags[TAG_ALARM_REASON] = alarm.reason[:MAX_TAG_VALUE]
    return tags
