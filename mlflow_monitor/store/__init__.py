"""Inference stores: where recorded predictions, their delayed labels and drift rows are kept.

:class:`InferenceStore` (:mod:`~mlflow_monitor.store.interface`) is what every store
implements, for one stream (``model_name``, ``model_version``). :class:`InMemoryStore`
(:mod:`~mlflow_monitor.store.memory`) keeps a bounded log inside one process;
:class:`~mlflow_monitor.store.sql.SqlInferenceStore` (:mod:`mlflow_monitor.store.sql`) keeps
everything in SQLite or PostgreSQL, shared by serving processes and the ``check`` command.
Prediction ids are made by :mod:`~mlflow_monitor.store.ids`; which process runs a stream's
checks is a store's :mod:`~mlflow_monitor.store.leadership`.
"""

from __future__ import annotations

from mlflow_monitor.exceptions import StoreError
from mlflow_monitor.store.interface import (
    InferenceStore,
    PredictionBatch,
    PredictionRecord,
    StoreCounts,
    as_list,
    feature_rows,
)
from mlflow_monitor.store.memory import InMemoryStore

__all__ = [
    "InMemoryStore",
    "InferenceStore",
    "PredictionBatch",
    "PredictionRecord",
    "StoreCounts",
    "StoreError",
    "as_list",
    "feature_rows",
]
