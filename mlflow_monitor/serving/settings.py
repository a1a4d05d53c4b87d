"""What one ``mlflow-monitor serve`` serves and how, and how it reaches worker processes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlflow_monitor.exceptions import ConfigError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "TOKEN_ENV", "ServeSettings"]

TOKEN_ENV = "MLFLOW_MONITOR_TOKEN"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# How the parent `serve` process hands its settings to uvicorn's worker processes.
_ENV = {
    "model_uri": "MLFLOW_MONITOR_SERVE_MODEL_URI",
    "max_body_bytes": "MLFLOW_MONITOR_SERVE_MAX_BODY_BYTES",
    "schedule_checks": "MLFLOW_MONITOR_SERVE_CHECKS",
    "max_rows": "MLFLOW_MONITOR_SERVE_MAX_ROWS",
}


@dataclass(frozen=True)
class ServeSettings:
    """What one server serves and how.

    Args:
        model_uri: a monitored model (``models:/name/version``, ``runs:/...``, a path).
        token: bearer token the mutating monitoring endpoints require; None for none.
            Taken from ``MLFLOW_MONITOR_TOKEN`` by :meth:`from_env`, never from the command
            line (where other users could read it).
        max_body_bytes: largest request body accepted.
        schedule_checks: run the periodic checks (in the worker that holds the leader lock).
        max_rows: most rows per prediction request; None for a tenth of the store's write
            queue (see :mod:`mlflow_monitor.serving.admission`).
    """

    model_uri: str
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    schedule_checks: bool = True
    max_rows: int | None = None

    def __post_init__(self) -> None:
        if self.max_rows is not None and (
            isinstance(self.max_rows, bool)
            or not isinstance(self.max_rows, int)
            or self.max_rows < 1
        ):
            raise ConfigError(f"max_rows must be a positive number of rows, got {self.max_rows!r}")
        if self.max_body_bytes < 1:
            raise ConfigError(
                f"max_body_bytes must be a positive number of bytes, got {self.max_body_bytes}"
            )
        if self.token is not None and not self.token.strip():
            raise ConfigError(f"{TOKEN_ENV} is set but empty; unset it or give a token")

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads (the token stays in its own)."""
        return {
            _ENV["model_uri"]: self.model_uri,
            _ENV["max_body_bytes"]: str(self.max_body_bytes),
            _ENV["schedule_checks"]: "1" if self.schedule_checks else "0",
            _ENV["max_rows"]: "" if self.max_rows is None else str(self.max_rows),
        }

    @classmethod
    def from_env(cls) -> ServeSettings:
        """Settings from the environment of a worker process started by :func:`serve`."""
        model_uri = os.environ.get(_ENV["model_uri"])
        if not model_uri:
            raise ConfigError(f"{_ENV['model_uri']} is not set: start workers with serve()")
        return cls(
            model_uri=model_uri,
            token=os.environ.get(TOKEN_ENV) or None,
            max_body_bytes=int(os.environ.get(_ENV["max_body_bytes"], DEFAULT_MAX_BODY_BYTES)),
            schedule_checks=os.environ.get(_ENV["schedule_checks"], "1") == "1",
            max_rows=int(os.environ[_ENV["max_rows"]])
            if os.environ.get(_ENV["max_rows"])
            else None,
        )
