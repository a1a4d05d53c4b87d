"""Loading a monitored model by URI (or only its settings), refusing one that is not monitored."""

from __future__ import annotations

import logging
from typing import Any

from mlflow_monitor.exceptions import ConfigError, DataValidationError
from mlflow_monitor.model.artifacts import ARTIFACTS, WrapperSettings, load_baseline, read_settings
from mlflow_monitor.redaction import redact_text, redact_uri

__all__ = ["load_monitored_model", "read_monitored_files", "read_monitored_settings"]

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
    return read_monitored_files(model_uri)[:2]


def read_monitored_files(
    model_uri: str,
) -> tuple[dict[str, Any], WrapperSettings, dict[str, float]]:
    """A monitored model's options, wrapper settings and baseline metrics, read from its
    ``monitor.json`` and ``baseline.json`` alone (the model is not loaded).

    Raises:
        ConfigError: the model cannot be found or is not a monitored model.
    """
    import tempfile

    repository = _artifacts_of(model_uri)
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
        path = _download(repository, model_uri, ARTIFACTS["monitor"], tmp)
        try:
            options, settings = read_settings(path)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{redact_uri(model_uri)!r} has an unreadable {ARTIFACTS['monitor']}: {exc!r}"
            ) from exc
        try:
            baseline = load_baseline(_download(repository, model_uri, ARTIFACTS["baseline"], tmp))
        except DataValidationError as exc:
            raise ConfigError(
                f"{redact_uri(model_uri)!r} has an unreadable {ARTIFACTS['baseline']}: {exc}"
            ) from exc
    return options, settings, baseline


def _artifacts_of(model_uri: str) -> Any:
    """The artifact repository of a monitored model; a ``models:/`` URI is resolved once
    (each resolution opens the registry)."""
    import mlflow
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    try:
        return get_artifact_repository(model_uri.rstrip("/"))
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise ConfigError(
            f"cannot find {redact_uri(model_uri)!r}: {redact_text(str(exc))}"
        ) from exc


def _download(repository: Any, model_uri: str, name: str, directory: str) -> str:
    """One artifact of a monitored model, downloaded into ``directory``."""
    import mlflow

    try:
        return str(repository.download_artifacts(f"artifacts/{name}", dst_path=directory))
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        text = redact_text(str(exc))
        if "no such artifact" in text.lower() or isinstance(exc, FileNotFoundError):
            raise ConfigError(
                f"{redact_uri(model_uri)!r} is not a monitored model: it has no {name} "
                "(create one with: mlflow-monitor wrap)"
            ) from exc
        raise ConfigError(f"cannot read {name} of {redact_uri(model_uri)!r}: {text}") from exc
