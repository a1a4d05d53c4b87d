"""Fixtures that start real services, shared by the session: ``mlflow server`` and a private
PostgreSQL (with fresh databases on it, and the SQLite-then-PostgreSQL ``uri``)."""

from __future__ import annotations

import pytest

from tests.support.mlflow_server import MlflowServer
from tests.support.postgres import PostgresServer, find_bin_dir
from tests.support.services import missing_service


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (tests/support/mlflow_server.py) shared by the session.

    It has ``.uri``, ``.stop()`` and ``.start()``; a test that stops it starts it again.
    """
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL cluster (tests/support/postgres.py) shared by the session.

    It has ``.url(database)``, ``.create_database()``, ``.stop(mode)`` and ``.start()``; a
    test that stops it starts it again. Skips (fails under ``CI=true``) without PostgreSQL.
    """
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
