"""Logging checks to MLflow: one run per check, and a history run per model version.

Every check that ran becomes a run in the experiment ``monitoring/<model name>``, tagged with
the model name and version, the check kind and its outcome, with the check's metrics and a
few artifacts (per-feature drift table and plot, confusion matrix), which
:mod:`mlflow_monitor.tracking.artifacts` makes. Each model version also has one long-lived
*history run*, the parent of its check runs, which receives the same metrics at an
increasing ``step`` with the check's timestamp: its metric charts are the drift and
performance history.

How the history run is found and numbered:

* It is the oldest active run of the experiment tagged ``mlflow_monitor.role=history`` with
  this model name and version, so any process (a restarted server, the ``check`` command)
  finds the same one. It is created when missing; when two processes create one at the same
  moment, both keep the oldest and the newer one is deleted.
* Its status is ``FINISHED`` with the end time of its last check (it never stays "running"
  for ever); every check adds points to it and moves its end time.
  :meth:`CheckRunLogger.end_history` marks it with another status, e.g. ``KILLED`` when a
  version is retired; the next check sets it back to ``FINISHED``.
* The next step of each check kind is a counter kept as an experiment tag
  (``mlflow_monitor.next_step.<version>.<kind>``), out of the runs' tag panels, so steps
  increase across processes and restarts without reading the metric history back. A check
  chooses its step once: a retry logs the same points again, which MLflow stores once. Two
  processes logging the same kind at the same instant could share a step; the design runs
  one scheduler leader per model version.
* The experiment is tagged as a model-development experiment, so MLflow's UI opens it on
  its runs table rather than the GenAI views.

When the tracking store cannot be reached, :meth:`CheckRunLogger.log_check` does not raise:
it keeps the check in a bounded pending queue (and, with ``spool_dir``, in a JSON file that
another process can pick up) and logs it, in order, before the next check or on
:meth:`CheckRunLogger.flush_pending`; :mod:`mlflow_monitor.tracking.spool` holds that queue
and decides which failures are retried. Each check carries an id tag, so a retry after a
partial failure replaces the half-logged run instead of duplicating it, and does not add a
second history point. MLflow retries HTTP requests for minutes by default; for the duration
of this logger's own calls to an ``http(s)`` tracking URI the retry count, backoff and
timeout are bounded (see :class:`CheckRunLogger`). Log lines and errors show the tracking
URI, and the client errors quoting it, with any password masked
(:mod:`mlflow_monitor.redaction`).

Skipped checks are not logged by default: they happen on every tick until enough data has
arrived and would bury the real verdicts. With ``log_skipped=True`` they become runs tagged
``outcome=skipped`` with the reason, but they never add points to the history run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mlflow_monitor.exceptions import ConfigError, DataValidationError, MonitorError
from mlflow_monitor.redaction import describe_exception, redact_uri
from mlflow_monitor.results import CheckResult
from mlflow_monitor.tracking.artifacts import (
    check_metrics,
    check_params,
    feature_metric_suffixes,
    histogram_samples,
    write_check_artifacts,
)
from mlflow_monitor.tracking.names import check_run_name
from mlflow_monitor.tracking.registry import note_check
from mlflow_monitor.tracking.spool import CheckSpool, PendingCheck

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, Run, RunTag

__all__ = [
    "ROLE_CHECK",
    "ROLE_HISTORY",
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
    "CheckRunLogger",
    "check_metrics",
    "feature_metric_suffixes",
]

logger = logging.getLogger(__name__)

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
_NEXT_STEP = "mlflow_monitor.next_step.{version}.{kind}"  # an experiment tag
_PARENT_RUN_ID = "mlflow.parentRunId"
_NOTE = "mlflow.note.content"
# MLflow's UI opens an experiment of this kind on its runs table, not on GenAI traces.
_EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")

_KINDS = ("drift", "performance")
_MAX_TAG_VALUE = 5000  # well under MLflow's 8000
_BATCH_METRICS = 1000  # MLflow's log_batch limit
_REPORT_HISTORY = 100  # recent checks drawn on a report's timeline
# os.environ is process-wide: the bounded-retry overrides are applied under this lock.
_ENV_LOCK = threading.RLock()


def _ms(result: CheckResult) -> int:
    return int(result.timestamp.timestamp() * 1000)


class CheckRunLogger:
    """Log checks of one model version as MLflow runs under a history run.

    Args:
        model_name: registered model name (tags, default experiment name).
        model_version: its version.
        tracking_uri: MLflow tracking URI (``sqlite:////abs/mlflow.db``,
            ``http://host:5000`` ...); None takes MLflow's current one at first use. The
            global MLflow state (tracking URI, active run) is never changed.
        experiment_name: defaults to ``monitoring/<model_name>``.
        artifact_location: artifact root of the experiment when this logger creates it
            (None: the tracking store's default).
        spool_dir: directory where checks that could not be logged are also written as
            JSON, so they survive a restart; None keeps them in memory only.
        max_pending: checks kept while the store is unreachable (the oldest go first).
        max_feature_metrics: per-feature metrics logged per drift check, most drifted first.
        log_skipped: also log skipped checks (as runs without history points).
        note_registry: after each check, tag the model's registry versions with its verdict
            and link their descriptions to its report and the history run
            (:mod:`mlflow_monitor.tracking.registry`).
        request_timeout: seconds before an HTTP request to the tracking server times out.
        max_retries: HTTP retries per request (no wait before the first retry, no waiting
            for ``Retry-After``). MLflow has no per-client setting for these: it reads
            ``MLFLOW_HTTP_REQUEST_TIMEOUT``, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
            ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` and ``MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER``
            from the environment on every request (default: 7 retries with exponential
            backoff, 120 s timeout, minutes in all). So while this logger calls an
            ``http(s)`` tracking server, and only then, it sets them (and
            ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``) under a process-wide lock and restores
            the caller's values afterwards. A refused connection then fails in milliseconds
            and a hung server in about ``request_timeout * (max_retries + 1)`` seconds. MLflow
            calls made by other threads during that window see the same settings.

    Example:
        >>> tracking = CheckRunLogger("reviews", 3, "sqlite:////srv/mlflow.db")  # doctest: +SKIP
        >>> tracking.log_check(monitor.check_drift())  # doctest: +SKIP
    """

    def __init__(
        self,
        model_name: str,
        model_version: str | int,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        *,
        artifact_location: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        max_pending: int = 1000,
        max_feature_metrics: int = 5,
        log_skipped: bool = False,
        note_registry: bool = True,
        request_timeout: int = 5,
        max_retries: int = 1,
    ) -> None:
        if not isinstance(model_name, str) or not model_name.strip():
            raise ConfigError(f"model_name must be a non-empty string, got {model_name!r}")
        if isinstance(model_version, bool) or not str(model_version).strip():
            raise ConfigError(f"model_version must be a version, got {model_version!r}")
        for name, value, low in (
            ("max_pending", max_pending, 1),
            ("max_feature_metrics", max_feature_metrics, 0),
            ("request_timeout", request_timeout, 1),
            ("max_retries", max_retries, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        self.model_name = model_name
        self.model_version = str(model_version)
        self.experiment_name = experiment_name or f"monitoring/{model_name}"
        self.artifact_location = artifact_location
        self.max_feature_metrics = max_feature_metrics
        self.log_skipped = log_skipped
        self.note_registry = note_registry
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self._tracking_uri = tracking_uri
        self._client: MlflowClient | None = None
        self._history_id: str | None = None
        self._experiment_tags: dict[str, str] = {}
        self._spool = CheckSpool(self.model_name, self.model_version, spool_dir, max_pending)
        self._lock = threading.RLock()

    # -- public ---------------------------------------------------------------------------

    @property
    def tracking_uri(self) -> str:
        """The tracking URI this logger writes to."""
        if self._tracking_uri is None:
            import mlflow

            self._tracking_uri = mlflow.get_tracking_uri()
        return self._tracking_uri

    @property
    def spool_dir(self) -> Path | None:
        """Where checks waiting to be logged are also written, or None."""
        return self._spool.directory

    @property
    def max_pending(self) -> int:
        """Checks kept while the store is unreachable."""
        return self._spool.max_pending

    @property
    def pending(self) -> int:
        """Checks waiting to be logged."""
        with self._lock:
            return self._spool.pending

    def log_check(
        self,
        result: CheckResult,
        reference: Any = None,
        test: Any = None,
        feature_names: Sequence[str] | None = None,
        extra_tags: Mapping[str, Any] | None = None,
        history: Sequence[CheckResult] = (),
    ) -> str | None:
        """Log one check as a child run of the history run; never raises on store errors.

        Checks still pending are logged first, so runs and history steps stay in order.

        Args:
            result: the check.
            reference, test: the reference sample and tested window of a drift check
                (2-D arrays or DataFrames in feature space); with them the plot shows
                histograms of the most drifted features, without them a bar chart of the
                KS statistics.
            feature_names: column names of ``reference`` and ``test`` (default: the
                feature names of the drift result, in order).
            extra_tags: more tags for the check run.
            history: recent checks of this model version (any kind), drawn on the timeline
                of the run's ``report.html``.

        Returns:
            The run id, or None when the check was kept for later (store unreachable),
            dropped (the store rejected it) or skipped (see ``log_skipped``).

        Raises:
            DataValidationError: ``result`` is not a drift or performance check result.
        """
        if not isinstance(result, CheckResult) or result.kind not in _KINDS:
            raise DataValidationError(
                f"expected a drift or performance CheckResult, got {result!r}"
            )
        if not result.ran and not self.log_skipped:
            logger.debug("not logging skipped %s check: %s", result.kind, result.reason)
            return None
        samples = {}
        if result.drift is not None and reference is not None and test is not None:
            samples = histogram_samples(result.drift, reference, test, feature_names)
        tags = {TAG_WORKER: f"{socket.gethostname()}:{os.getpid()}"}
        tags.update({str(k): str(v)[:_MAX_TAG_VALUE] for k, v in (extra_tags or {}).items()})
        recent = [h.to_dict() for h in list(history)[-_REPORT_HISTORY:]]
        entry = PendingCheck(uuid.uuid4().hex, result, tags, samples, history=recent)
        with self._lock:
            return self._spool.submit(entry, self._attempt, self._where)

    def flush_pending(self) -> int:
        """Log the checks kept while the store was unreachable, oldest first.

        Returns:
            How many were logged; the rest stay pending if the store is still unreachable.
        """
        with self._lock:
            return self._spool.flush(self._attempt, self._where)

    def history_run_id(self) -> str:
        """The id of this model version's history run, created if missing.

        Raises:
            MonitorError: the tracking store could not be reached.
        """
        with self._lock, self._bounded_http():
            try:
                return str(self._history_run(self._experiment_id()).info.run_id)
            except Exception as exc:
                self._history_id = None
                detail = describe_exception(exc)
                error = MonitorError(
                    f"could not reach MLflow tracking at {redact_uri(self.tracking_uri)!r}: "
                    f"{detail}"
                )
                if detail != f"{type(exc).__name__}: {exc}":
                    raise error from None  # the cause quotes a password
                raise error from exc

    def end_history(self, status: str = "KILLED") -> None:
        """Give the history run a final status (e.g. ``KILLED`` when the version is retired).

        A later :meth:`log_check` sets it back to ``FINISHED``.
        """
        with self._lock, self._bounded_http():
            client = self._mlflow()
            client.set_terminated(self.history_run_id(), status=status)

    def set_run_tags(self, run_id: str, tags: Mapping[str, str]) -> bool:
        """Add tags to a logged check run (e.g. the retraining run it launched).

        Returns:
            False when the tracking store could not be reached; never raises for that.
        """
        with self._lock, self._bounded_http():
            try:
                client = self._mlflow()
                for key, value in tags.items():
                    client.set_tag(run_id, key, value)
            except Exception as exc:
                logger.warning(
                    "could not tag check run %s: %s",
                    run_id,
                    describe_exception(exc, with_traceback=True),
                )
                return False
        return True

    # -- MLflow plumbing ------------------------------------------------------------------

    def _mlflow(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    @contextlib.contextmanager
    def _bounded_http(self) -> Iterator[None]:
        if not self.tracking_uri.startswith(("http://", "https://")):
            yield
            return
        overrides = {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.request_timeout),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
            "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
            # set_terminated would print a "View run" link to stdout for every check
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        }
        with _ENV_LOCK:
            saved = {name: os.environ.get(name) for name in overrides}
            os.environ.update(overrides)
            try:
                yield
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        client = self._mlflow()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            try:
                return client.create_experiment(
                    self.experiment_name,
                    artifact_location=self.artifact_location,
                    tags={
                        TAG_MODEL_NAME: self.model_name,
                        _NOTE: f"Checks of model {self.model_name!r} logged by mlflow-monitor.",
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

    def _find_history(self, experiment_id: str) -> Run | None:
        # Filtered on the role only and matched in Python: model names may hold quotes.
        runs = self._mlflow().search_runs(
            [experiment_id], filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_HISTORY}'", max_results=1000
        )
        ours = [
            r
            for r in runs
            if r.data.tags.get(TAG_MODEL_NAME) == self.model_name
            and r.data.tags.get(TAG_MODEL_VERSION) == self.model_version
        ]
        return min(ours, key=lambda r: (r.info.start_time, r.info.run_id), default=None)

    def _history_run(self, experiment_id: str) -> Run:
        from mlflow.exceptions import MlflowException

        client = self._mlflow()
        if self._history_id is not None:
            try:
                run = client.get_run(self._history_id)
                if run.info.lifecycle_stage == "active":
                    return run
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
            self._history_id = None
        found = self._find_history(experiment_id)
        if found is None:
            created = client.create_run(
                experiment_id,
                run_name=f"history {self.model_name} v{self.model_version}",
                tags={
                    TAG_ROLE: ROLE_HISTORY,
                    TAG_MODEL_NAME: self.model_name,
                    TAG_MODEL_VERSION: self.model_version,
                    _NOTE: (
                        f"Monitoring history of {self.model_name} version "
                        f"{self.model_version}: one point per check in every metric chart "
                        "(sections drift/, performance/, feature/); the checks themselves are "
                        "the child runs, each with a report.html artifact. Its end time is "
                        "the time of the last check."
                    ),
                },
            )
            found = self._find_history(experiment_id) or created
            if found.info.run_id != created.info.run_id:  # lost a creation race
                client.delete_run(created.info.run_id)
        self._history_id = str(found.info.run_id)
        return found

    # -- logging one check ----------------------------------------------------------------

    def _log(self, entry: PendingCheck) -> str:
        from mlflow.entities import Metric, Param

        client, result = self._mlflow(), entry.result
        experiment_id = self._experiment_id()
        history = self._history_run(experiment_id)
        if entry.attempted:
            done = self._replace_partial(experiment_id, entry.check_id)
            if done is not None:
                return done
        entry.attempted = True
        metrics = check_metrics(result, self.max_feature_metrics)
        if result.ran and entry.history_step is None:
            entry.history_step = self._next_step(result.kind)
        ts = _ms(result)
        run = client.create_run(
            experiment_id,
            start_time=ts,
            run_name=check_run_name(result, self.model_name, self.model_version),
            tags=self._check_tags(entry, history.info.run_id),
        )
        run_id = str(run.info.run_id)
        step = entry.history_step or 0
        self._log_batch(
            run_id,
            [Metric(key, value, ts, step) for key, value in metrics.items()],
            params=[Param(k, v) for k, v in check_params(result).items()],
        )
        self._log_artifacts(run_id, entry, self._links(experiment_id, history.info.run_id))
        now = max(ts, int(time.time() * 1000))
        if entry.history_step is not None:
            # the same points on a retry: MLflow stores a repeated (key, value, time, step) once
            history_id = history.info.run_id
            self._log_batch(history_id, [Metric(k, v, ts, step) for k, v in metrics.items()])
            self._set_next_step(experiment_id, result.kind, step + 1)
            client.set_terminated(history_id, "FINISHED", end_time=now)
        client.set_terminated(run_id, "FINISHED", end_time=now)
        logger.debug("logged %s check as run %s (step %d)", result.kind, run_id, step)
        if result.ran and self.note_registry:
            self._note_registry(result, experiment_id, history.info.run_id, run_id)
        return run_id

    def _note_registry(
        self, result: CheckResult, experiment_id: str, history_id: str, run_id: str
    ) -> None:
        """Tag and describe the model's registry versions; a failure only logs a warning
        (the check is logged)."""
        verdict = check_run_name(result, self.model_name, self.model_version).rsplit(" \u00b7 ", 1)[
            0
        ]
        verdict += f" \u00b7 {result.timestamp.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        try:
            note_check(
                self._mlflow(),
                self.model_name,
                self.model_version,
                verdict=verdict,
                experiment_id=experiment_id,
                history_run_id=history_id,
                check_run_id=run_id,
            )
        except Exception as exc:
            logger.warning(
                "could not note the check in the model registry: %s", describe_exception(exc)
            )

    def _next_step(self, kind: str) -> int:
        """The step of a new history point of ``kind`` (the experiment tag's counter)."""
        key = _NEXT_STEP.format(version=self.model_version, kind=kind)
        try:
            return max(int(self._experiment_tags.get(key, "0")), 0)
        except ValueError:
            return 0

    def _set_next_step(self, experiment_id: str, kind: str, value: int) -> None:
        key = _NEXT_STEP.format(version=self.model_version, kind=kind)
        if self._next_step(kind) < value:
            self._mlflow().set_experiment_tag(experiment_id, key, str(value))
            self._experiment_tags[key] = str(value)

    def _replace_partial(self, experiment_id: str, check_id: str) -> str | None:
        """After a failed attempt: the finished run of this check, or None after deleting
        a half-logged one."""
        client = self._mlflow()
        runs = client.search_runs(
            [experiment_id], filter_string=f"tags.`{TAG_CHECK_ID}` = '{check_id}'"
        )
        for run in runs:
            if run.info.status == "FINISHED":
                return str(run.info.run_id)
        for run in runs:
            client.delete_run(run.info.run_id)
        return None

    def _check_tags(self, entry: PendingCheck, history_id: str) -> dict[str, str]:
        result = entry.result
        tags = {
            **entry.extra_tags,
            TAG_ROLE: ROLE_CHECK,
            TAG_MODEL_NAME: self.model_name,
            TAG_MODEL_VERSION: self.model_version,
            TAG_CHECK: result.kind,
            TAG_OUTCOME: result.status,
            TAG_CHECK_ID: entry.check_id,
            TAG_TRIGGERED: str(result.triggered).lower(),
            _PARENT_RUN_ID: history_id,
        }
        if result.reason:
            tags[TAG_REASON] = result.reason[:_MAX_TAG_VALUE]
        if result.drift is not None and result.drift.drifted_features:
            tags[TAG_DRIFTED_FEATURES] = ", ".join(result.drift.drifted_features)[:_MAX_TAG_VALUE]
        alarm = None if result.drift is None else result.drift.alarm
        if alarm is not None:
            tags[TAG_ALARM] = "fired" if alarm.fired else "not fired"
            tags[TAG_ALARM_REASON] = alarm.reason[:_MAX_TAG_VALUE]
        return tags

    def _log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        # Params and tags (at most a few, far under MLflow's 100) go with the last chunk, so
        # the history run's step counter is written together with the history metrics.
        client = self._mlflow()
        chunks = [metrics[i : i + _BATCH_METRICS] for i in range(0, len(metrics), _BATCH_METRICS)]
        chunks = chunks or [[]]
        for chunk in chunks[:-1]:
            client.log_batch(run_id, metrics=chunk)
        client.log_batch(run_id, metrics=chunks[-1], params=list(params), tags=list(tags))

    def _log_artifacts(self, run_id: str, entry: PendingCheck, links: dict[str, str]) -> None:
        with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
            write_check_artifacts(
                Path(tmp),
                entry.result,
                entry.samples,
                model_name=self.model_name,
                model_version=self.model_version,
                history=[CheckResult.from_dict(h) for h in entry.history],
                links=links,
            )
            self._mlflow().log_artifacts(run_id, tmp)

    def _links(self, experiment_id: str, history_id: str) -> dict[str, str]:
        """Where a report links to: the history run in the MLflow UI, when it has an address."""
        uri = self.tracking_uri
        if not uri.startswith(("http://", "https://")):
            return {}
        parts = urlsplit(uri)  # the address without user or password
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return {
            f"History run of {self.model_name} v{self.model_version} (all checks' charts)": (
                f"{base}/#/experiments/{experiment_id}/runs/{history_id}"
            ),
        }

    # -- what the spool calls -------------------------------------------------------------

    def _attempt(self, entry: PendingCheck) -> str:
        """Log one check with bounded HTTP retries; the spool decides what a failure means."""
        try:
            with self._bounded_http():
                return self._log(entry)
        except Exception:
            self._history_id = None  # look it up again next time
            raise

    def _where(self) -> str:
        return redact_uri(self.tracking_uri)
