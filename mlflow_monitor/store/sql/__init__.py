"""The database store: SQLite (one host) or PostgreSQL (several), shared by processes.

:class:`SqlInferenceStore` (:mod:`~mlflow_monitor.store.sql.store`) reads and labels; its
:class:`~mlflow_monitor.store.sql.writer.BatchWriter` writes recorded batches from a background
thread; :mod:`~mlflow_monitor.store.sql.schema` defines the tables, their encodings and
migrations; :mod:`~mlflow_monitor.store.sql.leadership` elects the process that runs the checks.
"""

from __future__ import annotations

from mlflow_monitor.store.sql.store import SqlInferenceStore

__all__ = ["SqlInferenceStore"]
