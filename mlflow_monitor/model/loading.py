"""Loading a monitored model by URI, refusing one that is not monitored."""

from __future__ import annotations

from typing import Any

from mlflow_monitor.exceptions import ConfigError
from mlflow_monitor.redaction import redact_text, redact_uri

__all__ = ["load_monitored_model"]


def load_monitored_model(model_uri: str, schedule_checks: bool = True) -> Any:
    """Load a monitored model as a pyfunc; refuse a model that is not monitored.

    Raises:
        ConfigError: the model cannot be loaded or was not made by ``mlflow-monitor wrap``.
    """
    import mlflow

    from mlflow_monitor.model.pyfunc import MonitoredModel

    try:
        model = mlflow.pyfunc.load_model(
            model_uri, model_config={"schedule_checks": schedule_checks}
        )
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(
            f"cannot load {redact_uri(model_uri)!r}: {redact_text(str(exc.message))}"
        ) from exc
    try:
        python_model = model.unwrap_python_model()
    except mlflow.exceptions.MlflowException:
        python_model = None
    if not isinstance(python_model, MonitoredModel):
        raise ConfigError(
            f"{redact_uri(model_uri)!r} is not a monitored model; create one with: "
            "mlflow-monitor wrap"
        )
    return model
