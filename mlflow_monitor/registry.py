"""Registered model versions and their monitoring artifacts: ``wrap`` and baselines.

:func:`wrap` turns a registered (or logged) MLflow model into a monitored pyfunc and registers
it. The registered version's artifacts hold everything monitoring needs (``reference.parquet``,
``reference_features.npz``, ``features/``, ``baseline.json``, ``monitor.json``), and its tags
carry the baseline metrics so they show in the registry UI.

``reference_features.npz`` holds the extracted reference features and, since they are fixed
once wrapped, the median-heuristic kernel bandwidth of the rows drift detection keeps of them
(:func:`save_reference_features`), so that loading the model does not compute it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift import ReferenceBandwidth
from mlflow_monitor.exceptions import ConfigError, DataValidationError, MonitorError
from mlflow_monitor.extraction import FeatureExtractor
from mlflow_monitor.features import FloatArray
from mlflow_monitor.performance import validate_baseline

__all__ = [
    "BASELINE_TAG_PREFIX",
    "ModelRef",
    "WrappedModel",
    "compare_baselines",
    "load_reference",
    "load_reference_features",
    "parse_model_uri",
    "save_reference_features",
    "wrap",
]

logger = logging.getLogger(__name__)

BASELINE_TAG_PREFIX = "baseline."
TAG_INNER_URI = "mlflow_monitor.inner_model_uri"
TAG_MONITORED = "mlflow_monitor.monitored"
# Keys of reference_features.npz besides "features"; models wrapped before these were stored
# lack them, and loading computes the bandwidth instead.
_BANDWIDTH = "bandwidth"
_BANDWIDTH_ROWS = "bandwidth_rows"
_BANDWIDTH_DIGEST = "bandwidth_digest"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@dataclass(frozen=True)
class ModelRef:
    """A registry model version (``name``, ``version``) behind a ``models:/`` URI."""

    name: str
    version: str

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class WrappedModel:
    """Result of :func:`wrap`.

    Attributes:
        name: registered name of the monitored model.
        version: its new version.
        inner: the wrapped registry version (None when wrapping a run or path URI).
        features: how drift features are extracted (``numeric``, ``pipeline``, ``function``).
        n_features: width of the drift features.
    """

    name: str
    version: str
    inner: ModelRef | None
    features: str
    n_features: int

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>`` of the monitored model."""
        return f"models:/{self.name}/{self.version}"


def parse_model_uri(model_uri: str, client: Any = None) -> ModelRef | None:
    """Resolve ``models:/name/version`` or ``models:/name@alias`` to a :class:`ModelRef`.

    Returns:
        The version, or None for other URIs (``runs:/``, local paths, logged-model ids).
    """
    match = _MODELS_URI.match(model_uri)
    if not match:
        return None
    name = match["name"]
    if match["version"]:
        return ModelRef(name, match["version"])
    if client is None:
        from mlflow import MlflowClient

        client = MlflowClient()
    version = client.get_model_version_by_alias(name, match["alias"])
    return ModelRef(name, str(version.version))


def load_reference(reference: Any) -> Any:
    """Reference data as a DataFrame: a DataFrame, or a ``.parquet``/``.csv`` file path.

    Raises:
        DataValidationError: unreadable file, unknown extension or an empty table.
    """
    import pandas as pd

    if isinstance(reference, pd.DataFrame):
        frame = reference
    elif isinstance(reference, str | Path):
        path = Path(reference)
        if not path.is_file():
            raise DataValidationError(f"reference file {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path)
        else:
            raise DataValidationError(f"reference file must be .parquet or .csv, got {path.name!r}")
    else:
        frame = pd.DataFrame(np.asarray(reference))
        frame.columns = [f"feature_{i}" for i in range(frame.shape[1])]
    if frame.empty:
        raise DataValidationError("reference data is empty")
    return frame


def save_reference_features(
    path: str | Path, features: FloatArray, keep_last: int | None
) -> ReferenceBandwidth | None:
    """Write the reference features and their kernel bandwidth to an ``.npz`` file.

    The bandwidth (:meth:`ReferenceBandwidth.of`) is the median heuristic on the rows a
    detector keeping ``keep_last`` rows uses, before the ``drift_update_ref`` ``sigma``
    multiplier: the detector applies that when fitted, so a stored value never carries it.
    It is left out when it would depend on random subsampling (more than 4000 kept rows).

    Args:
        path: the file to write (``reference_features.npz``).
        features: the extracted reference features.
        keep_last: ``drift_update_ref['last']`` of the monitor, None when it keeps every row.

    Returns:
        The stored bandwidth, or None when none was stored.
    """
    bandwidth = ReferenceBandwidth.of(features, keep_last)
    arrays: dict[str, Any] = {"features": features}
    if bandwidth is not None:
        arrays[_BANDWIDTH] = np.float64(bandwidth.sigma)
        arrays[_BANDWIDTH_ROWS] = np.int64(bandwidth.rows)
        arrays[_BANDWIDTH_DIGEST] = np.str_(bandwidth.digest)
    np.savez(path, **arrays)
    return bandwidth


def load_reference_features(path: str | Path) -> tuple[FloatArray, ReferenceBandwidth | None]:
    """Read what :func:`save_reference_features` wrote.

    Returns:
        The features, and the stored bandwidth or None when the file has none (models
        wrapped by earlier versions) or an unusable one; the detector then computes it.
    """
    with np.load(path, allow_pickle=False) as archive:
        features = np.asarray(archive["features"])
        keys = (_BANDWIDTH, _BANDWIDTH_ROWS, _BANDWIDTH_DIGEST)
        if any(key not in archive.files for key in keys):
            return features, None
        try:
            sigma, rows, digest = (archive[key] for key in keys)
            kinds = (sigma.dtype.kind, rows.dtype.kind, digest.dtype.kind)
            if sigma.shape or rows.shape or digest.shape or kinds not in {("f", "i", "U")}:
                raise DataValidationError(f"expected a float, an integer and a string, got {kinds}")
            return features, ReferenceBandwidth(float(sigma), int(rows), str(digest))
        except (DataValidationError, ValueError) as exc:
            logger.warning("ignoring the stored bandwidth in %s (%s); computing it", path, exc)
            return features, None


def _load_baseline(baseline: Any) -> dict[str, float]:
    if isinstance(baseline, str | Path):
        path = Path(baseline)
        if not path.is_file():
            raise DataValidationError(f"baseline file {str(path)!r} does not exist")
        try:
            baseline = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataValidationError(f"baseline file {str(path)!r} is not JSON: {exc}") from exc
    return validate_baseline(baseline)


def _monitor_options(config: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(config or {})
    if options.get("retraining_callback") is not None:
        raise ConfigError(
            "retraining_callback cannot be stored with a model; register callbacks on the "
            "monitor at serve time (monitor.add_retraining_callback)"
        )
    # A wrapped model logs its checks to MLflow unless told otherwise.
    options.setdefault("log_checks", True)
    validated = MonitorConfig.from_dict(options).to_dict()
    validated.pop("retraining_callback", None)
    return validated


def _signature_with_monitoring(signature: Any, id_column: str) -> Any:
    """The inner signature plus an optional id column and the return-ids parameter."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    from mlflow_monitor.pyfunc import RETURN_IDS_PARAM

    params = [ParamSpec(RETURN_IDS_PARAM, "boolean", False)]
    if signature is None:
        return None
    inputs = signature.inputs
    if inputs is not None and inputs.has_input_names() and id_column not in inputs.input_names():
        inputs = Schema([*inputs.inputs, ColSpec("string", id_column, required=False)])
    if signature.params is not None:
        params = [*signature.params.params, *params]
    return ModelSignature(inputs=inputs, outputs=signature.outputs, params=ParamSchema(params))


def _requirements(inner_dir: Path) -> list[str]:
    from mlflow_monitor import __version__

    path = inner_dir / "requirements.txt"
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = [line for line in lines if line.strip() and not line.startswith("#")]
    return [*kept, f"mlflow-monitor=={__version__}"]


@contextlib.contextmanager
def _validating() -> Iterator[None]:
    from mlflow_monitor.pyfunc import VALIDATION_ENV

    previous = os.environ.get(VALIDATION_ENV)
    os.environ[VALIDATION_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(VALIDATION_ENV, None)
        else:
            os.environ[VALIDATION_ENV] = previous


def wrap(
    model_uri: str,
    reference_data: Any,
    baseline_metrics: Any,
    config: Mapping[str, Any] | None = None,
    registered_model_name: str | None = None,
    *,
    features: str = "auto",
    preprocess_fn: str | None = None,
    max_features: int = 32,
    id_column: str = "prediction_id",
    threshold: float = 0.5,
    labels: tuple[Any, Any] = (0, 1),
    embed_inner_model: bool = True,
) -> WrappedModel:
    """Log and register a monitored pyfunc around an MLflow model.

    Uses the current MLflow tracking and registry URIs (``MLFLOW_TRACKING_URI`` or
    ``mlflow.set_tracking_uri``).

    Args:
        model_uri: the model to monitor, e.g. ``models:/reviews/3`` or ``models:/reviews@prod``.
        reference_data: training inputs (DataFrame, or a ``.parquet``/``.csv`` path); drift
            is measured against them.
        baseline_metrics: ``precision``/``recall``/``accuracy``/``f1_score`` from the held-out
            evaluation (dict or JSON file path).
        config: monitor options (see :class:`~mlflow_monitor.config.MonitorConfig`); no
            callbacks (they are not serialisable).
        registered_model_name: name to register under; ``<inner name>-monitored`` by default.
            Pass the inner name to add a new version of the same model instead.
        features: drift feature extraction: ``auto``, ``numeric``, ``pipeline``,
            ``function`` (see :mod:`mlflow_monitor.extraction`).
        preprocess_fn: ``"package.module:function"`` turning model input into features.
        max_features: width above which features are projected (truncated SVD).
        id_column: input column holding caller-supplied prediction ids.
        threshold: probability at or above which a prediction counts as positive.
        labels: ``(negative, positive)`` class labels.
        embed_inner_model: copy the inner model into the artifacts (True) or keep a pinned
            ``models:/name/version`` reference that is loaded at serve time (False).

    Returns:
        The registered monitored model version.

    Raises:
        MonitorError: bad reference, baseline, config or an unreadable model.
    """
    import mlflow
    from mlflow import MlflowClient

    from mlflow_monitor import monitored_model_code
    from mlflow_monitor.pyfunc import ARTIFACTS, raw_model_of

    client = MlflowClient()
    try:
        inner_ref = parse_model_uri(model_uri, client)
    except mlflow.exceptions.MlflowException as exc:
        raise MonitorError(f"cannot resolve {model_uri!r}: {exc.message}") from exc
    if not embed_inner_model and inner_ref is None:
        raise ConfigError("embed_inner_model=False needs a models:/<name>/<version> URI")
    name = registered_model_name or (
        f"{inner_ref.name}-monitored" if inner_ref else "monitored-model"
    )
    baseline = _load_baseline(baseline_metrics)
    options = _monitor_options(config)
    reference = load_reference(reference_data)
    stream = inner_ref or ModelRef(name, "0")
    options.update(model_name=stream.name, model_version=stream.version)

    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-wrap-") as tmp:
        work = Path(tmp)
        try:
            inner_dir = Path(
                mlflow.artifacts.download_artifacts(
                    model_uri, dst_path=str(work / ARTIFACTS["inner_model"])
                )
            )
            inner = mlflow.pyfunc.load_model(str(inner_dir))
        except mlflow.exceptions.MlflowException as exc:
            raise MonitorError(f"cannot load model {model_uri!r}: {exc.message}") from exc
        raw_model = raw_model_of(inner)
        extractor = FeatureExtractor(features, preprocess_fn, max_features)
        reference_features = extractor.fit(reference, raw_model)
        logger.info("drift features: %s, %d columns", extractor.kind_, reference_features.shape[1])
        extractor.save(work / ARTIFACTS["features"])
        keep_last = MonitorConfig.from_dict(options).reference_size
        save_reference_features(
            work / ARTIFACTS["reference_features"], reference_features, keep_last
        )
        reference.to_parquet(work / ARTIFACTS["reference"])
        (work / ARTIFACTS["baseline"]).write_text(json.dumps(baseline, indent=2))
        wrapper = {
            "inner_model_uri": inner_ref.uri if inner_ref else model_uri,
            "id_column": id_column,
            "threshold": threshold,
            "labels": list(labels),
            "input_columns": [str(c) for c in reference.columns],
        }
        settings = {"monitor": options, "wrapper": wrapper}
        (work / ARTIFACTS["monitor"]).write_text(json.dumps(settings, indent=2))
        artifacts = {
            key: str(work / path)
            for key, path in ARTIFACTS.items()
            if key != "inner_model" or embed_inner_model
        }
        if embed_inner_model:
            artifacts["inner_model"] = str(inner_dir)
        from mlflow.models import Model

        inner_meta = Model.load(str(inner_dir))
        input_example = inner_meta.load_input_example(str(inner_dir))
        signature = _signature_with_monitoring(inner_meta.signature, id_column)
        with _validating():
            info = mlflow.pyfunc.log_model(
                name="monitored_model",
                python_model=str(Path(monitored_model_code.__file__)),
                artifacts=artifacts,
                signature=signature,
                input_example=input_example,
                registered_model_name=name,
                pip_requirements=_requirements(inner_dir),
                # declaring a model_config lets load_model(model_config=...) override it
                model_config={"schedule_checks": True},
            )
    version = str(info.registered_model_version)
    tags = {f"{BASELINE_TAG_PREFIX}{k}": f"{v:.6g}" for k, v in baseline.items()}
    for key, value in {**tags, TAG_INNER_URI: wrapper["inner_model_uri"]}.items():
        client.set_model_version_tag(name, version, key, value)
    if inner_ref is not None and inner_ref.name != name:
        for key, value in {**tags, TAG_MONITORED: f"models:/{name}/{version}"}.items():
            client.set_model_version_tag(inner_ref.name, inner_ref.version, key, value)
    return WrappedModel(name, version, inner_ref, str(extractor.kind_), reference_features.shape[1])


def _latest_check(client: Any, experiment_id: str, stream: ModelRef, kind: str) -> Any | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`mlflow_monitor.role` = 'check' "
            f"and tags.`mlflow_monitor.check` = '{kind}' "
            f"and tags.`mlflow_monitor.model_name` = '{stream.name}' "
            f"and tags.`mlflow_monitor.model_version` = '{stream.version}' "
            f"and tags.`mlflow_monitor.outcome` != 'skipped'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def compare_baselines(name: str, experiment_name: str | None = None) -> Any:
    """One row per version of a registered model: baseline, live metrics, drift, origin.

    Works for the model itself (``reviews``) and for its monitored wrapper
    (``reviews-monitored``): live results are found through the monitored stream.

    Args:
        name: registered model name.
        experiment_name: where check runs are logged (``monitoring/<stream name>`` default).

    Returns:
        A DataFrame indexed by version (newest first) with columns ``aliases``,
        ``baseline_<metric>``, ``live_<metric>``, ``live_window``, ``drift_p_value``,
        ``drift_detected``, ``last_check``, ``created_by`` and ``trigger_reason``.

    Raises:
        MonitorError: the model does not exist.
    """
    import mlflow
    import pandas as pd

    from mlflow_monitor.performance import METRIC_NAMES

    client = mlflow.MlflowClient()
    try:
        registered = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        raise MonitorError(f"registered model {name!r} not found: {exc.message}") from exc
    aliases: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    experiments: dict[str, Any] = {}
    for version in client.search_model_versions(f"name = '{name}'"):
        tags = dict(version.tags or {})
        inner = parse_model_uri(tags.get(TAG_INNER_URI, ""), client)
        stream = inner or ModelRef(name, str(version.version))
        row: dict[str, Any] = {
            "version": int(version.version),
            "aliases": ",".join(sorted(aliases.get(str(version.version), []))),
        }
        for metric in METRIC_NAMES:
            value = tags.get(f"{BASELINE_TAG_PREFIX}{metric}")
            row[f"baseline_{metric}"] = float(value) if value is not None else None
        exp_name = experiment_name or f"monitoring/{stream.name}"
        if exp_name not in experiments:
            experiments[exp_name] = client.get_experiment_by_name(exp_name)
        experiment = experiments[exp_name]
        perf = drift = None
        if experiment is not None:
            perf = _latest_check(client, experiment.experiment_id, stream, "performance")
            drift = _latest_check(client, experiment.experiment_id, stream, "drift")
        for metric in METRIC_NAMES:
            row[f"live_{metric}"] = perf.data.metrics.get(metric) if perf else None
        row["live_window"] = perf.data.metrics.get("window_size") if perf else None
        row["drift_p_value"] = drift.data.metrics.get("drift_p_value") if drift else None
        row["drift_detected"] = bool(drift.data.metrics.get("drift_detected")) if drift else None
        latest = [r.info.start_time for r in (perf, drift) if r is not None]
        row["last_check"] = (
            pd.Timestamp(max(latest), unit="ms", tz="UTC").isoformat() if latest else None
        )
        inner_tags = (
            dict(client.get_model_version(inner.name, inner.version).tags or {})
            if inner is not None and inner.name != name
            else tags
        )
        row["created_by"] = inner_tags.get("mlflow_monitor.entry_point", "")
        row["trigger_reason"] = inner_tags.get("mlflow_monitor.trigger_reason", "")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("version", ascending=False).set_index("version")
