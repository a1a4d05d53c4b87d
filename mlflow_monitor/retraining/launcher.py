"""Launching the retraining MLflow project run when a trigger fires.

:class:`ProjectLauncher` runs ``mlflow.projects.run(uri, entry_point="retrain", ...)``
asynchronously with the trigger's reason and details as parameters. It refuses to start a
second run while the previous one is still running (the trigger cooldown handles the rest),
and returns the launched run id, which the trigger history records. A background thread waits
for each launched run; when it ends, the listeners added with
:meth:`ProjectLauncher.add_listener` hear its final status (``FINISHED``, ``FAILED``,
``KILLED``), so a run that fails after starting is recorded too (see
:class:`~mlflow_monitor.retraining.triggers.TriggerPolicy`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mlflow_monitor.exceptions import ConfigError, MonitorError

__all__ = ["ProjectLauncher", "RetrainInFlightError", "RunListener"]

logger = logging.getLogger(__name__)

_ACTIVE = {"RUNNING", "SCHEDULED"}
FINISHED = "FINISHED"

# Called with (run_id, final_status) when a launched run ends.
RunListener = Callable[[str, str], None]


def _mlflow_projects_run() -> Callable[..., Any]:
    import mlflow.projects

    run: Callable[..., Any] = mlflow.projects.run
    return run


_PATH_LOCK = threading.Lock()


@contextlib.contextmanager
def _mlflow_cli_on_path() -> Iterator[None]:
    """Make the ``mlflow`` command of this interpreter findable while a run is launched.

    ``mlflow.projects.run(synchronous=False)`` starts ``mlflow run`` from ``PATH``; a server
    started as ``/srv/venv/bin/mlflow-monitor serve`` without activating its virtualenv has
    no ``mlflow`` there, and every launch would fail. Only then, and only for the launch,
    the interpreter's own ``bin`` directory is put first on ``PATH``.
    """
    own_bin = Path(sys.executable).parent
    if shutil.which("mlflow") or not (own_bin / "mlflow").exists():
        yield
        return
    with _PATH_LOCK:
        saved = os.environ.get("PATH")
        os.environ["PATH"] = os.pathsep.join(p for p in (str(own_bin), saved) if p)
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = saved


class RetrainInFlightError(MonitorError):
    """A retraining run is still running; a second one is not started."""


class ProjectLauncher:
    """Starts the ``retrain`` entry point of an MLflow project.

    Args:
        project_uri: local path or Git URI of the project holding the ``MLproject`` file.
        model_name: passed as the ``model_name`` parameter.
        entry_point: entry point to run (``retrain`` by default).
        parameters: extra parameters for every run (e.g. ``{"data": "s3://..."}``).
        env_manager: ``local`` (use this environment), ``virtualenv``, ``uv`` or ``conda``.
        experiment_name: experiment the run is logged in (MLflow's default otherwise).
        run_project: the function that launches (``mlflow.projects.run``; tests pass another).
    """

    def __init__(
        self,
        project_uri: str,
        model_name: str,
        entry_point: str = "retrain",
        parameters: Mapping[str, Any] | None = None,
        env_manager: str = "local",
        experiment_name: str | None = None,
        run_project: Callable[..., Any] | None = None,
    ) -> None:
        if not project_uri:
            raise ConfigError("retrain_project_uri must be a project path or URI, got ''")
        self.project_uri = project_uri
        self.model_name = model_name
        self.entry_point = entry_point
        self.parameters = dict(parameters or {})
        self.env_manager = env_manager
        self.experiment_name = experiment_name
        self._run_project = run_project
        self._submitted: Any = None
        self._lock = threading.Lock()
        self._listeners: list[RunListener] = []

    def add_listener(self, listener: RunListener) -> None:
        """Call ``listener(run_id, final_status)`` when a launched run ends."""
        self._listeners.append(listener)

    def in_flight(self) -> bool:
        """True while the last launched run is still running."""
        submitted = self._submitted
        if submitted is None:
            return False
        try:
            return str(submitted.get_status()) in _ACTIVE
        except Exception:  # a run whose status cannot be read is not blocking new ones
            logger.warning("cannot read the status of retraining run %s", submitted.run_id)
            return False

    def __call__(self, reason: str, details: Mapping[str, Any]) -> str:
        """Launch the retraining run for a trigger.

        Returns:
            The MLflow run id of the launched run.

        Raises:
            RetrainInFlightError: the previous run has not finished.
        """
        with self._lock:
            if self.in_flight():
                raise RetrainInFlightError(
                    f"retraining run {self._submitted.run_id} is still running; not starting "
                    "another"
                )
            run_project = self._run_project
            launching: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if run_project is None:
                run_project = _mlflow_projects_run()
                launching = _mlflow_cli_on_path()
            parameters = {
                **self.parameters,
                "model_name": self.model_name,
                "trigger_reason": reason,
                "trigger_details": json.dumps(dict(details), sort_keys=True, default=str),
            }
            check_run_id = details.get("check_run_id")
            if check_run_id:
                parameters["check_run_id"] = str(check_run_id)
            with launching:
                self._submitted = run_project(
                    self.project_uri,
                    entry_point=self.entry_point,
                    parameters=parameters,
                    env_manager=self.env_manager,
                    experiment_name=self.experiment_name,
                    synchronous=False,
                )
            run_id = str(self._submitted.run_id)
        logger.warning("launched retraining run %s (%s) for %s", run_id, self.entry_point, reason)
        # Wait for the child in the background: a long-running server must not collect
        # zombie processes, and the run's end is worth a log line.
        threading.Thread(
            target=self._reap, args=(self._submitted,), name=f"retrain-{run_id[:8]}", daemon=True
        ).start()
        return run_id

    def _reap(self, submitted: Any) -> None:
        """Wait for a launched run, log how it ended and tell the listeners."""
        run_id = str(submitted.run_id)
        try:
            submitted.wait()
            status = str(submitted.get_status())
        except Exception as exc:
            logger.exception("waiting for retraining run %s failed", run_id)
            status = f"UNKNOWN ({type(exc).__name__}: {exc})"
        if status == FINISHED:
            logger.info("retraining run %s ended: %s", run_id, status)
        else:
            logger.error("retraining run %s ended: %s", run_id, status)
        for listener in list(self._listeners):
            try:
                listener(run_id, status)
            except Exception:
                logger.exception("a listener of retraining run %s failed", run_id)

    def wait(self) -> str | None:
        """Block until the last launched run ends; returns its final status."""
        if self._submitted is None:
            return None
        self._submitted.wait()
        return str(self._submitted.get_status())
