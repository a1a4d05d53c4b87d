"""Running the serve app under uvicorn: one process, or several workers sharing the store.

With ``workers > 1`` the Prometheus metrics use ``prometheus_client``'s multiprocess mode, in a
fresh directory per server, and each worker builds its app from the settings the parent put in
the environment (:meth:`~mlflow_monitor.serving.settings.ServeSettings.to_env`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from mlflow_monitor.exceptions import ConfigError
from mlflow_monitor.model.loading import load_monitored_model
from mlflow_monitor.serving.app import create_app
from mlflow_monitor.serving.settings import ServeSettings

__all__ = ["app_from_env", "serve"]


def app_from_env() -> Any:
    """The app of a worker process started by :func:`serve` (a uvicorn factory)."""
    return create_app(ServeSettings.from_env())


def serve(
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Run the server until interrupted (SIGINT/SIGTERM drain the queued records first).

    Args:
        settings: what to serve.
        host: address to bind; ``0.0.0.0`` to accept connections from other hosts.
        port: TCP port.
        workers: worker processes; each loads the model, all share the inference store.
        log_level: uvicorn's log level.
    """
    import uvicorn

    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        # One process: load the model here, before listening, and serve that app.
        app = create_app(settings)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # Worker processes load the model themselves; loading it once here first turns a wrong
    # URI into one clear error instead of workers failing one after another.
    load_monitored_model(
        settings.model_uri, schedule_checks=False
    ).unwrap_python_model().monitor.close()
    os.environ.update(settings.to_env())
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="mlflow-monitor-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        uvicorn.run(
            "mlflow_monitor.serving.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
    finally:
        if own_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(own_dir, ignore_errors=True)
