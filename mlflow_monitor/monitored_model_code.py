"""The "models from code" file MLflow runs to build a monitored model at load time.

:func:`mlflow_monitor.wrap` logs a copy of this file with every monitored model, and loading
the model executes that copy. It is never imported by the package (``wrap`` finds it with
:mod:`importlib.resources`), and it imports :class:`MonitoredModel` from
:mod:`mlflow_monitor.pyfunc`, the path every registered monitored model relies on.
"""

import mlflow

from mlflow_monitor.pyfunc import MonitoredModel

mlflow.models.set_model(MonitoredModel())
