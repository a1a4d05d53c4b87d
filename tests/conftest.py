"""Shared fixtures: fresh Prometheus registries, seeded data, a controllable clock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

# The example detector and its synthetic data (examples/reviews_data.py) are shared with tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def embedded_tracking(tmp_path_factory):
    """MLflow's embedded default: a local SQLite tracking and registry store.

    Session-scoped because creating the MLflow schema takes several seconds. Sets the
    global tracking URI (and ``MLFLOW_TRACKING_URI`` for subprocesses) for the session.
    """
    import os

    import mlflow

    root = tmp_path_factory.mktemp("embedded-mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    yield uri
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def sqlite_tracking_uri(tmp_path_factory):
    """A local SQLite MLflow tracking store; unlike ``embedded_tracking``, no global state.

    Session-scoped because creating the MLflow schema takes seconds: tests keep apart by
    using their own model (and so experiment) names.
    """
    root = tmp_path_factory.mktemp("sqlite-tracking")
    return f"sqlite:///{root}/mlflow.db"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (tests/mlflow_server.py) shared by the session.

    It has ``.uri``, ``.stop()`` and ``.start()``; a test that stops it starts it again.
    """
    from mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL cluster (tests/postgres.py) shared by the session.

    It has ``.url(database)``, ``.create_database()``, ``.stop(mode)`` and ``.start()``; a
    test that stops it starts it again. Skips (fails under ``CI=true``) without PostgreSQL.
    """
    from postgres import PostgresServer, find_bin_dir
    from services import missing_service

    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing_service(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "install the Debian package 'postgresql'"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing_service("psycopg is not installed: pip install 'psycopg[binary]'")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except RuntimeError:
        server.cleanup()
        raise
    yield server
    server.cleanup()


@pytest.fixture
def postgres_uri(postgres_server):
    """SQLAlchemy URL of a fresh, empty database on the session's PostgreSQL server."""
    url = postgres_server.create_database()
    yield url
    if postgres_server.running:
        postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def uri(request, tmp_path):
    """An inference-store URL: a fresh SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/inference.db"
    return request.getfixturevalue("postgres_uri")


@pytest.fixture
def open_store(uri):
    """``open_store(**kwargs)``: a SqlInferenceStore on ``uri`` (stream reviews/3 unless told),
    closed after the test."""
    from mlflow_monitor.store.sql.store import SqlInferenceStore

    stores = []

    def open_(**kwargs):
        kwargs.setdefault("model_name", "reviews")
        kwargs.setdefault("model_version", "3")
        store = SqlInferenceStore(uri, **kwargs)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()
