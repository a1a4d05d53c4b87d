"""The report of a monitored model's check, fetched from MLflow (``mlflow-monitor report``)."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.exceptions import MonitorError
from mlflow_monitor.model.loading import read_monitored_settings
from mlflow_monitor.results import CheckResult
from mlflow_monitor.tracking.report import render_report
from mlflow_monitor.tracking.run_tags import ROLE_CHECK, TAG_OUTCOME, TAG_ROLE

__all__ = ["fetch_report"]

logger = logging.getLogger(__name__)


def _check_runs(client: Any, experiment_id: str, name: str, version: str) -> list[Any]:
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.`{TAG_ROLE}` = '{ROLE_CHECK}' and tags.`{TAG_OUTCOME}` != 'skipped'"),
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    return [
        r
        for r in runs
        if r.data.tags.get("mlflow_monitor.model_name") == name
        and r.data.tags.get("mlflow_monitor.model_version") == version
    ]


def fetch_report(model_uri: str, check: str | None = None) -> str:
    """The HTML report of a check of a monitored model, as its check run holds it.

    Args:
        model_uri: the monitored model, e.g. ``models:/reviews-monitored/1``.
        check: a check run's id; the latest check of the model by default.

    Returns:
        The report (``report.html`` of the check run; for runs logged before reports
        existed, one made from their ``check_result.json``).

    Raises:
        MonitorError: the model is not monitored, or no such check was logged.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    options, _ = read_monitored_settings(model_uri)
    config = MonitorConfig.from_dict({**options, "store_uri": None})
    client = mlflow.MlflowClient(tracking_uri=config.tracking_uri)
    experiment_name = config.experiment_name or f"monitoring/{config.model_name}"
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise MonitorError(
            f"no check of {model_uri!r} was logged yet (no experiment {experiment_name!r})"
        )
    logger.info(
        "looking for checks of %s v%s in %r",
        config.model_name,
        config.model_version,
        experiment_name,
    )
    runs = _check_runs(client, experiment.experiment_id, config.model_name, config.model_version)
    if check is not None:
        runs = [r for r in runs if r.info.run_id == check]
    if not runs:
        which = f"check run {check!r}" if check else "check"
        raise MonitorError(f"no {which} of {model_uri!r} was found in {experiment_name!r}")
    run = runs[0]
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-report-") as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, "report.html", tmp)
            return Path(path).read_text(encoding="utf-8")
        except (MlflowException, OSError):
            logger.info("check run %s has no report.html; making one", run.info.run_id)
        try:
            path = client.download_artifacts(run.info.run_id, "check_result.json", tmp)
            document = json.loads(Path(path).read_text())
            result = CheckResult.from_dict(document)
        except (MlflowException, OSError, KeyError, TypeError, ValueError) as exc:
            raise MonitorError(
                f"check run {run.info.run_id} has no readable result: {exc}"
            ) from exc
    return render_report(result, model_name=config.model_name, model_version=config.model_version)
