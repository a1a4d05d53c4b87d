"""SqlInferenceStore refusing locations it cannot use. Sharing a database, the background
writer and the schema, on SQLite and PostgreSQL: tests/integration/store/test_sql_store.py.
"""

from __future__ import annotations

import pytest

from mlflow_monitor import (
    ConfigError,
    MissingDependencyError,
)
from mlflow_monitor.store.interface import StoreError
from mlflow_monitor.store.sql.store import SqlInferenceStore


def test_bad_locations_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="in-memory SQLite"):
        SqlInferenceStore("sqlite://")
    with pytest.raises(ConfigError, match="SQLAlchemy URL"):
        SqlInferenceStore("not a url")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the inference store"):
        SqlInferenceStore(f"sqlite:///{tmp_path}/dir.db")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="psycopg"):
            SqlInferenceStore("postgresql+psycopg2://user:secret@localhost/monitoring")
