"""Logging checks to MLflow: one run per check, and a history run per model version.

Every check that ran becomes a run in the experiment ``monitoring/<model name>``, tagged with
the model name and version, the check kind and its outcome
(:mod:`mlflow_monitor.tracking.run_tags`), with the check's metrics and a few artifacts
(per-feature drift table and plot, confusion matrix, ``report.html``), which
:mod:`mlflow_monitor.tracking.artifacts` makes. Each model version also has one long-lived
*history run*, the parent of its check runs, which receives the same metrics at an
increasing ``step`` with the check's timestamp: its metric charts are the drift and
performance history. :mod:`mlflow_monitor.tracking.history` finds or creates it and numbers
its steps; a check chooses its step once, so a retry logs the same points again, which MLflow
stores once. :meth:`CheckRunLogger.end_history` gives the history run another status, e.g.
``KILLED`` when a version is retired; the next check sets it back to ``FINISHED``.

When the tracking store cannot be reached, :meth:`CheckRunLogger.log_check` does not raise:
it keeps the check in a bounded pending queue (and, with ``spool_dir``, in a JSON file that
another process can pick up) and logs it, in order, before the next check or on
:meth:`CheckRunLogger.flush_pending`; :mod:`mlflow_monitor.tracking.spool` holds that queue
and decides which failures are retried. Each check carries an id tag, so a retry after a
partial failure replaces the half-logged run instead of duplicating it, and does not add a
second history point. MLflow retries HTTP requests for minutes by default; for the duration
of this logger's own calls to an ``http(s)`` tracking URI the retry count, backoff and
timeout are bounded (:mod:`mlflow_monitor.tracking.http_limits`). Log lines and errors show
the tracking URI, and the client errors quoting it, with any password masked
(:mod:`mlflow_monitor.redaction`).

Skipped checks are not logged by default: they happen on every tick until enough data has
arrived and would bury the real verdicts. With ``log_skipped=True`` they become runs tagged
``outcome=skipped`` with the reason, but they never add points to the history run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from mlflow_monitor.tracking.history import ModelHistory, history_links
from mlflow_monitor.tracking.http_limits import bounded_http
from mlflow_monitor.tracking.names import check_run_name
from mlflow_monitor.tracking.registry import note_check
from mlflow_monitor.tracking.run_tags import (
    ROLE_CHECK,
    ROLE_HISTORY,
    TAG_CHECK,
    TAG_CHECK_ID,
    TAG_DRIFTED_FEATURES,
    TAG_MODEL_NAME,
    TAG_MODEL_VERSION,
    TAG_OUTCOME,
    TAG_REASON,
    TAG_ROLE,
    TAG_TRIGGERED,
    TAG_WORKER,
    check_tags,
    submitted_tags,
)
from mlflow_monitor.tracking.spool import CheckSpool, PendingCheck

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

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

_KINDS = ("drift", "performance")
_BATCH_METRICS = 1000  # MLflow's log_batch limit
_REPORT_HISTORY = 100  # recent checks drawn on a report's timeline


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
            for ``Retry-After``). MLflow reads these settings from the environment, so while
            this logger calls an ``http(s)`` tracking server, and only then, it sets them under
            a process-wide lock and restores the caller's values afterwards
            (:mod:`mlflow_monitor.tracking.http_limits`): a refused connection then fails in
            milliseconds and a hung server in about ``request_timeout * (max_retries + 1)``
            seconds. MLflow calls made by other threads during that window see the same
            settings.

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
        self._history = ModelHistory(
            self._mlflow,
            self.model_name,
            self.model_version,
            self.experiment_name,
            artifact_location,
        )
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
        tags = submitted_tags(extra_tags)
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
                return str(self._history.run(self._history.experiment_id()).info.run_id)
            except Exception as exc:
                self._history.forget()
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

    def _bounded_http(self) -> contextlib.AbstractContextManager[None]:
        return bounded_http(self.tracking_uri, self.request_timeout, self.max_retries)

    # -- logging one check ----------------------------------------------------------------

    def _log(self, entry: PendingCheck) -> str:
        from mlflow.entities import Metric, Param

        client, result = self._mlflow(), entry.result
        experiment_id = self._history.experiment_id()
        history = self._history.run(experiment_id)
        if entry.attempted:
            done = self._replace_partial(experiment_id, entry.check_id)
            if done is not None:
                return done
        entry.attempted = True
        metrics = check_metrics(result, self.max_feature_metrics)
        if result.ran and entry.history_step is None:
            entry.history_step = self._history.next_step(result.kind)
        ts = _ms(result)
        run = client.create_run(
            experiment_id,
            start_time=ts,
            run_name=check_run_name(result, self.model_name, self.model_version),
            tags=check_tags(
                result,
                check_id=entry.check_id,
                model_name=self.model_name,
                model_version=self.model_version,
                history_id=history.info.run_id,
                extra_tags=entry.extra_tags,
            ),
        )
        run_id = str(run.info.run_id)
        step = entry.history_step or 0
        self._log_batch(
            run_id,
            [Metric(key, value, ts, step) for key, value in metrics.items()],
            params=[Param(k, v) for k, v in check_params(result).items()],
        )
        links = history_links(
            self.tracking_uri,
            experiment_id,
            history.info.run_id,
            self.model_name,
            self.model_version,
        )
        self._log_artifacts(run_id, entry, links)
        now = max(ts, int(time.time() * 1000))
        if entry.history_step is not None:
            # the same points on a retry: MLflow stores a repeated (key, value, time, step) once
            history_id = history.info.run_id
            self._log_batch(history_id, [Metric(k, v, ts, step) for k, v in metrics.items()])
            self._history.set_next_step(experiment_id, result.kind, step + 1)
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

    # -- what the spool calls -------------------------------------------------------------

    def _attempt(self, entry: PendingCheck) -> str:
        """Log one check with bounded HTTP retries; the spool decides what a failure means."""
        try:
            with self._bounded_http():
                return self._log(entry)
        except Exception:
            self._history.forget()  # look it up again next time
            raise

    def _where(self) -> str:
        return redact_uri(self.tracking_uri)
