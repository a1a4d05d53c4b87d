"""The "models from code" file MLflow runs to build a monitored model at load time."""

import mlflow

from mlflow_monitor.pyfunc import MonitoredModel

mlflow.models.set_model(MonitoredModel())
