"""The import path of the monitored pyfunc, kept for every registered monitored model.

Each monitored model carries a code file (:mod:`mlflow_monitor.monitored_model_code`, copied
into the model when it is logged) that runs ``from mlflow_monitor.pyfunc import
MonitoredModel``. The class lives in :mod:`mlflow_monitor.model.pyfunc`; this module keeps the
old path, and the names it always exported, working for models wrapped by any version.
"""

from __future__ import annotations

from mlflow_monitor.model.artifacts import ARTIFACTS, RETURN_IDS_PARAM, VALIDATION_ENV
from mlflow_monitor.model.inner import raw_model_of
from mlflow_monitor.model.pyfunc import STORE_URI_ENV, MonitoredModel, resolve_store_uri

__all__ = [
    "ARTIFACTS",
    "RETURN_IDS_PARAM",
    "STORE_URI_ENV",
    "VALIDATION_ENV",
    "MonitoredModel",
    "raw_model_of",
    "resolve_store_uri",
]
