"""A model version's monitoring experiment and its history run, found or created in MLflow.

Checks are logged in the experiment ``monitoring/<model name>`` (by default). Each model version
has one long-lived *history run* there, the parent of its check runs, which receives every
check's metrics at an increasing ``step`` with the check's timestamp: its metric charts are the
drift and performance history.

How the history run is found and numbered:

* It is the oldest active run of the experiment tagged ``mlflow_monitor.role=history`` with
  this model name and version, so any process (a restarted server, the ``check`` command)
  finds the same one. It is created when missing; when two processes create one at the same
  moment, both keep the oldest and the newer one is deleted.
* Its status is ``FINISHED`` with the end time of its last check (it never stays "running"
  for ever); every check adds points to it and moves its end time.
* The next step of each check kind is a counter kept as an experiment tag
  (``mlflow_monitor.next_step.<version>.<kind>``), out of the runs' tag panels, so steps
  increase across processes and restarts without reading the metric history back. Two
  processes logging the same kind at the same instant could share a step; the design runs
  one scheduler leader per model version.
* The experiment is tagged as a model-development experiment, so MLflow's UI opens it on
  its runs table rather than the GenAI views. A deleted experiment is restored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from mlflow_monitor.tracking.http_limits import is_http
from mlflow_monitor.tracking.run_tags import (
    NOTE,
    ROLE_HISTORY,
    TAG_MODEL_NAME,
    TAG_MODEL_VERSION,
    TAG_ROLE,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["ModelHistory", "history_links"]

logger = logging.getLogger(__name__)

_NEXT_STEP = "mlflow_monitor.next_step.{version}.{kind}"  # an experiment tag
# MLflow's UI opens an experiment of this kind on its runs table, not on GenAI traces.
_EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


class ModelHistory:
    """The experiment and history run of one model version, looked up through ``client``.

    Args:
        client: returns the MLflow client to use (called on every lookup, so a caller that
            replaces its client is followed).
        model_name: registered model name.
        model_version: its version.
        experiment_name: the experiment that holds the runs.
        artifact_location: artifact root of the experiment when it is created here.
    """

    def __init__(
        self,
        client: Callable[[], MlflowClient],
        model_name: str,
        model_version: str,
        experiment_name: str,
        artifact_location: str | None = None,
    ) -> None:
        self._client = client
        self.model_name = model_name
        self.model_version = model_version
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self._run_id: str | None = None
        self._experiment_tags: dict[str, str] = {}

    def forget(self) -> None:
        """Look the history run up again next time (after a failed call to the store)."""
        self._run_id = None

    def experiment_id(self) -> str:
        """The experiment's id, created (or restored, when deleted) if needed; reads its tags."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            try:
                return client.create_experiment(
                    self.experiment_name,
                    artifact_location=self.artifact_location,
                    tags={
                        TAG_MODEL_NAME: self.model_name,
                        NOTE: f"Checks of model {self.model_name!r} logged by mlflow-monitor.",
                        _EXPERIMENT_KIND[0]: _EXPERIMENT_KIND[1],
                    },
                )
            except MlflowException as exc:  # another process created it meanwhile
                experiment = client.get_experiment_by_name(self.experiment_name)
                if experiment is None:
                    raise exc from None
        if experiment.lifecycle_stage == "deleted":
            logger.warning("restoring deleted experiment %r to log checks", self.experiment_name)
            client.restore_experiment(experiment.experiment_id)
        self._experiment_tags = dict(experiment.tags or {})
        if _EXPERIMENT_KIND[0] not in self._experiment_tags:  # made by an earlier version
            client.set_experiment_tag(experiment.experiment_id, *_EXPERIMENT_KIND)
        return str(experiment.experiment_id)

    def run(self, experiment_id: str) -> Run:
        """The history run in ``experiment_id``, created when there is none."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        if self._run_id is not None:
            try:
                run = client.get_run(self._run_id)
                if run.info.lifecycle_stage == "active":
                    return run
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
            self._run_id = None
        found = self._find(experiment_id)
        if found is None:
            created = client.create_run(
                experiment_id,
                run_name=f"history {self.model_name} v{self.model_version}",
                tags={
                    TAG_ROLE: ROLE_HISTORY,
                    TAG_MODEL_NAME: self.model_name,
                    TAG_MODEL_VERSION: self.model_version,
                    NOTE: (
                        f"Monitoring history of {self.model_name} version "
                        f"{self.model_version}: one point per check in every metric chart "
                        "(sections drift/, performance/, feature/); the checks themselves are "
                        "the child runs, each with a report.html artifact. Its end time is "
                        "the time of the last check."
                    ),
                },
            )
            found = self._find(experiment_id) or created
            if found.info.run_id != created.info.run_id:  # lost a creation race
                client.delete_run(created.info.run_id)
        self._run_id = str(found.info.run_id)
        return found

    def next_step(self, kind: str) -> int:
        """The step of a new history point of ``kind`` (the experiment tag's counter, as read
        by the last :meth:`experiment_id`)."""
        key = _NEXT_STEP.format(version=self.model_version, kind=kind)
        try:
            return max(int(self._experiment_tags.get(key, "0")), 0)
        except ValueError:
            return 0

    def set_next_step(self, experiment_id: str, kind: str, value: int) -> None:
        """Move the counter of ``kind`` to ``value``; it never goes back."""
        key = _NEXT_STEP.format(version=self.model_version, kind=kind)
        if self.next_step(kind) < value:
            self._client().set_experiment_tag(experiment_id, key, str(value))
            self._experiment_tags[key] = str(value)

    def _find(self, experiment_id: str) -> Run | None:
        # Filtered on the role only and matched in Python: model names may hold quotes.
        runs = self._client().search_runs(
            [experiment_id], filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_HISTORY}'", max_results=1000
        )
        ours = [
            r
            for r in runs
            if r.data.tags.get(TAG_MODEL_NAME) == self.model_name
            and r.data.tags.get(TAG_MODEL_VERSION) == self.model_version
        ]
        return min(ours, key=lambda r: (r.info.start_time, r.info.run_id), default=None)


def history_links(
    tracking_uri: str, experiment_id: str, history_id: str, model_name: str, model_version: str
) -> dict[str, str]:
    """Where a check's report links to: the history run in the MLflow UI, when the tracking
    URI is a server's address (shown without user or password); else nothing."""
    if not is_http(tracking_uri):
        return {}
    parts = urlsplit(tracking_uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return {
        f"History run of {model_name} v{model_version} (all checks' charts)": (
            f"{base}/#/experiments/{experiment_id}/runs/{history_id}"
        ),
    }
