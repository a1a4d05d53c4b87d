"""The serve app of a wrapped model in-process: loaded to record into a store of the test's,
and driven with FastAPI's test client.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["JSON", "app_client", "load_recording_into", "post_json_text", "serve_app"]

JSON = {"content-type": "application/json"}


def load_recording_into(model_uri: str, store_uri: str) -> Any:
    """The monitored pyfunc of ``model_uri``, without periodic checks, recording into
    ``store_uri`` (``MLFLOW_MONITOR_STORE_URI`` is set while it loads, as a server's is)."""
    from mlflow_monitor.serving.app import load_monitored_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_MONITOR_STORE_URI", store_uri)
        return load_monitored_model(model_uri, schedule_checks=False)


def serve_app(model_uri: str, store_uri: str, **settings: Any) -> tuple[Any, Any]:
    """The serve app of ``model_uri`` recording into ``store_uri`` (``settings``: more
    :class:`ServeSettings` fields, e.g. ``token``), and its loaded model."""
    from mlflow_monitor.serving.app import ServeSettings, create_app

    model = load_recording_into(model_uri, store_uri)
    app = create_app(ServeSettings(model_uri, schedule_checks=False, **settings), model)
    return app, model


@contextlib.contextmanager
def app_client(model_uri: str, store_uri: str, **settings: Any) -> Iterator[Any]:
    """A test client of :func:`serve_app`, inside the app's lifespan. ``client.monitor`` is
    the model's monitor and ``client.flush()`` writes its store's queue."""
    from fastapi.testclient import TestClient

    app, model = serve_app(model_uri, store_uri, **settings)
    monitor = model.unwrap_python_model().monitor
    with TestClient(app) as client:
        client.monitor = monitor  # type: ignore[attr-defined]
        client.flush = monitor.store.flush  # type: ignore[attr-defined]
        yield client


def post_json_text(
    client: Any, path: str, payload: Any, headers: dict[str, str] | None = None
) -> Any:
    """POST ``payload`` encoded by ``json.dumps``, as a client's JSON carries it (a lone
    surrogate escaped as ``\\ud800``, which the test client's ``json=`` would refuse)."""
    return client.post(path, content=json.dumps(payload), headers={**(headers or {}), **JSON})
