"""The MLflow model: wrapping a registered model, the monitored pyfunc, and its version.

:func:`~mlflow_monitor.model.wrap.wrap` logs and registers a monitored model;
:class:`~mlflow_monitor.model.pyfunc.MonitoredModel` is the pyfunc MLflow loads, which calls
the inner model (:mod:`~mlflow_monitor.model.inner`) and reads its output
(:mod:`~mlflow_monitor.model.outputs`); :mod:`~mlflow_monitor.model.artifacts` is the layout of
a monitored version, and
:func:`~mlflow_monitor.model.baselines.compare_baselines` the table of all versions. Names
load on first use (they need MLflow).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MonitoredModel", "WrappedModel", "compare_baselines", "wrap"]

_HOMES = {
    "MonitoredModel": "mlflow_monitor.model.pyfunc",
    "WrappedModel": "mlflow_monitor.model.wrap",
    "wrap": "mlflow_monitor.model.wrap",
    "compare_baselines": "mlflow_monitor.model.baselines",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mlflow_monitor.model' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
