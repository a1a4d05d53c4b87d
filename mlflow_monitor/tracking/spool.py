"""Checks not logged to MLflow yet: which failures are retried, the bounded queue, its spool files.

:class:`~mlflow_monitor.tracking.check_runs.CheckRunLogger` hands each check to a
:class:`CheckSpool` with a function that logs one check. The spool logs the checks already
waiting first, oldest first, so runs and history steps stay in order, and keeps the new one
when logging fails in a way worth retrying:

* kept: the tracking store cannot be reached (refused or reset connection, timeout, a
  database that is locked or down) or the server answered with an error; a check the
  server has answered with an error five times is dropped;
* dropped at once, with an error log: the store rejected the request as wrong (an invalid
  parameter value, a bad or malformed request) or the failure is not a store error.

At most ``max_pending`` checks wait; beyond that the oldest is dropped. With a spool
directory each waiting check is also a JSON file ``<model>-v<version>-<check id>.json``
(written atomically, removed once the check is logged or dropped) holding its result, tags
and histogram samples, so it survives a restart: the next spool of the same model version,
in this process or another, reads the files on first use and logs those checks in time
order. A check read back from a file is marked as possibly half-logged, so the logger looks
for a run with its id before creating one.

Nothing here talks to MLflow; MLflow's, requests' and SQLAlchemy's exception types are
imported, after a failure, only to classify it.
A spool is not thread-safe: ``CheckRunLogger`` calls it under its lock.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from mlflow_monitor.redaction import describe_exception
from mlflow_monitor.results import CheckResult
from mlflow_monitor.tracking.names import sanitize

__all__ = ["CheckSpool", "PendingCheck"]

logger = logging.getLogger(__name__)

_MAX_SERVER_ERRORS = 5  # a check the server keeps answering with an error is then dropped
# Error codes meaning "this request is wrong", not "try again later".
_CLIENT_ERRORS = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"})


@dataclass
class PendingCheck:
    """A check waiting to be logged, with what its artifacts need."""

    check_id: str
    result: CheckResult
    extra_tags: dict[str, str] = field(default_factory=dict)
    samples: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    attempted: bool = False  # a run may exist for it already
    server_errors: int = 0
    history_step: int | None = None  # its point's step in the history run, once chosen
    history: list[dict[str, Any]] = field(default_factory=list)  # recent checks, for the report

    def to_json(self, model_name: str, model_version: str) -> dict[str, Any]:
        return {
            "format": 1,
            "model_name": model_name,
            "model_version": model_version,
            "check_id": self.check_id,
            "result": self.result.to_dict(),
            "extra_tags": self.extra_tags,
            "samples": {name: [ref, tst] for name, (ref, tst) in self.samples.items()},
            "attempted": self.attempted,
            "history_step": self.history_step,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingCheck:
        return cls(
            check_id=str(data["check_id"]),
            result=CheckResult.from_dict(data["result"]),
            extra_tags={str(k): str(v) for k, v in data.get("extra_tags", {}).items()},
            samples={str(k): (list(v[0]), list(v[1])) for k, v in data["samples"].items()},
            # another process may have started logging it before it was spooled
            attempted=True,
            history_step=None if data.get("history_step") is None else int(data["history_step"]),
            history=[dict(h) for h in data.get("history", [])],
        )


class _DeferredError(Exception):
    """Logging failed in a way worth retrying later."""


def _retryable(exc: BaseException) -> bool:
    """Whether a failure says "try again later" rather than "this request is wrong"."""
    import requests
    from mlflow.exceptions import MlflowException
    from sqlalchemy import exc as sa

    if isinstance(exc, MlflowException):  # server answers and REST connection failures alike
        return exc.error_code not in _CLIENT_ERRORS
    transient = (
        requests.RequestException,
        OSError,
        sa.OperationalError,  # database locked or down
        sa.TimeoutError,
        sa.DisconnectionError,
    )
    return isinstance(exc, transient)


class CheckSpool:
    """The checks of one model version waiting to be logged, oldest first.

    Args:
        model_name: registered model name (spool file names and contents).
        model_version: its version.
        directory: where waiting checks are also written as JSON; None keeps them in
            memory only.
        max_pending: checks kept (at least 1); the oldest go first.

    The ``log`` argument of :meth:`submit` and :meth:`flush` logs one check and returns its
    run id, raising whatever the tracking store raised; ``where`` names the tracking store
    in log lines and is called only after a failure.
    """

    def __init__(
        self,
        model_name: str,
        model_version: str,
        directory: str | os.PathLike[str] | None,
        max_pending: int,
    ) -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.directory = Path(directory) if directory is not None else None
        self.max_pending = max_pending
        self._queue: deque[PendingCheck] = deque()
        self._loaded = False

    @property
    def pending(self) -> int:
        """Checks waiting to be logged, those found in the directory included."""
        self._load()
        return len(self._queue)

    def submit(
        self,
        entry: PendingCheck,
        log: Callable[[PendingCheck], str],
        where: Callable[[], str],
    ) -> str | None:
        """Log the waiting checks, then ``entry``; keep it if it cannot be logged yet.

        Returns:
            The run id of ``entry``, or None when it was kept or dropped.
        """
        self._load()
        try:
            if self._flush(log, where):
                return self._log_or_defer(entry, log, where)
        except _DeferredError:
            pass
        self._defer(entry)
        return None

    def flush(self, log: Callable[[PendingCheck], str], where: Callable[[], str]) -> int:
        """Log the waiting checks, oldest first, until one has to wait again.

        Returns:
            How many left the queue (logged, or dropped because the store rejected them).
        """
        self._load()
        before = len(self._queue)
        self._flush(log, where)
        return before - len(self._queue)

    def _flush(self, log: Callable[[PendingCheck], str], where: Callable[[], str]) -> bool:
        """Log pending checks in order; False when the store is still unreachable."""
        while self._queue:
            entry = self._queue[0]
            try:
                self._log_or_defer(entry, log, where)
            except _DeferredError:
                self._save(entry)  # ``attempted`` may have changed
                return False
            self._queue.popleft()
            self._remove(entry)
        return True

    def _log_or_defer(
        self, entry: PendingCheck, log: Callable[[PendingCheck], str], where: Callable[[], str]
    ) -> str | None:
        """Log one check; raises _DeferredError when it should be retried later."""
        try:
            return log(entry)
        except Exception as exc:
            if _retryable(exc):
                from mlflow.exceptions import RestException

                entry.server_errors += isinstance(exc, RestException)
                if entry.server_errors < _MAX_SERVER_ERRORS:
                    logger.warning(
                        "MLflow tracking at %s failed, will retry the %s check: %s",
                        where(),
                        entry.result.kind,
                        describe_exception(exc),
                    )
                    raise _DeferredError from exc
            logger.error(
                "dropping the %s check, it cannot be logged: %s",
                entry.result.kind,
                # a traceback unless MLflow said why
                describe_exception(exc, with_traceback=not _retryable(exc)),
            )
            return None

    def _defer(self, entry: PendingCheck) -> None:
        self._queue.append(entry)
        self._save(entry)
        while len(self._queue) > self.max_pending:
            dropped = self._queue.popleft()
            self._remove(dropped)
            logger.warning(
                "more than %d checks pending: dropped the %s check of %s",
                self.max_pending,
                dropped.result.kind,
                dropped.result.timestamp.isoformat(),
            )

    # -- spool files ----------------------------------------------------------------------

    def _path(self, check_id: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{self._prefix()}{check_id}.json"

    def _prefix(self) -> str:
        return f"{sanitize(self.model_name)}-v{sanitize(self.model_version)}-"

    def _save(self, entry: PendingCheck) -> None:
        path = self._path(entry.check_id)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entry.to_json(self.model_name, self.model_version)))
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("could not spool the %s check to %s: %s", entry.result.kind, path, exc)

    def _remove(self, entry: PendingCheck) -> None:
        path = self._path(entry.check_id)
        if path is not None:
            path.unlink(missing_ok=True)

    def _load(self) -> None:
        if self._loaded or self.directory is None:
            return
        self._loaded = True
        known = {entry.check_id for entry in self._queue}
        loaded = []
        for path in sorted(self.directory.glob(f"{glob_escape(self._prefix())}*.json")):
            try:
                data = json.loads(path.read_text())
                if (data["model_name"], data["model_version"]) != (
                    self.model_name,
                    self.model_version,
                ):
                    continue
                entry = PendingCheck.from_json(data)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("ignoring unreadable spooled check %s: %s", path, exc)
                continue
            if entry.check_id not in known:
                loaded.append(entry)
        for entry in sorted(loaded, key=lambda e: e.result.timestamp):
            self._defer(entry)
        if loaded:
            logger.info("%d spooled checks to log from %s", len(loaded), self.directory)
