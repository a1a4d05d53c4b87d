"""Loading a monitored model by URI (or only its settings), refusing one that is not monitored."""

from __future__ import annotations

import logging
from typing import Any

from mlflow_monitor.exceptions import ConfigError
from mlflow_monitor.model.artifacts import ARTIFACTS, WrapperSettings, read_settings
from mlflow_monitor.redaction import redact_text, redact_uri

__all__ = ["load_monitored_model", "read_monitored_settings"]

logger = logging.getLogger(__name__)


def load_monitored_model(model_uri: str, schedule_checks: bool = True) -> Any:
    """Load a monitored model as a pyfunc; refuse a model that is not monitored.

    Raises:
        ConfigError: the model cannot be loaded or was not made by ``mlflow-monitor wrap``.
    """
    import mlflow

    from mlflow_monitor.model.pyfunc import MonitoredModel

    logger.info("loading the monitored model %s", redact_uri(model_uri))
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


def read_monitored_settings(model_uri: str) -> tuple[dict[str, Any], WrapperSettings]:
    """A monitored model's options and wrapper settings, read from its ``monitor.json`` alone
    (the model is not loaded: no inner model, no store, no monitor).

    Raises:
        ConfigError: the model cannot be found or is not a monitored model.
    """
    import tempfile

    import mlflow

    location = f"{model_uri.rstrip('/')}/artifacts/{ARTIFACTS['monitor']}"
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(location, dst_path=tmp)
        except (mlflow.exceptions.MlflowException, OSError) as exc:
            raise ConfigError(
                f"cannot read {redact_uri(model_uri)!r} as a monitored model (no "
                f"{ARTIFACTS['monitor']}; create one with: mlflow-monitor wrap): "
                f"{redact_text(str(exc))}"
            ) from exc
        try:
            return read_settings(path)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{redact_uri(model_uri)!r} has an unreadable {ARTIFACTS['monitor']}: {exc!r}"
            ) from exc
