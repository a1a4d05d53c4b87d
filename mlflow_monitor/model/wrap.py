"""``wrap``: log and register a monitored pyfunc around an MLflow model.

The registered version's artifacts hold everything monitoring needs (their layout is in
:mod:`mlflow_monitor.model.artifacts`), and its tags carry the baseline metrics so they show in
the registry UI (:mod:`mlflow_monitor.tracking.registry`).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor._version import __version__
from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift.extraction import FeatureExtractor
from mlflow_monitor.exceptions import ConfigError, DataValidationError, MonitorError
from mlflow_monitor.model.artifacts import (
    ARTIFACTS,
    MIN_REFERENCE_ROWS,
    RETURN_IDS_PARAM,
    VALIDATION_ENV,
    WrapperSettings,
    load_baseline,
    load_reference,
    missing_values_note,
    save_reference_features,
    write_settings,
)
from mlflow_monitor.model.refs import ModelRef, parse_model_uri
from mlflow_monitor.tracking.registry import (
    BASELINE_TAG_PREFIX,
    TAG_INNER_URI,
    TAG_MONITORED,
    note_wrapped,
)

__all__ = ["WrappedModel", "wrap"]

logger = logging.getLogger(__name__)
# MLflow's "models from code" file; wrap logs a copy of it with every monitored model.
_MODEL_CODE = "monitored_model_code.py"


@dataclass(frozen=True)
class WrappedModel:
    """Result of :func:`wrap`.

    Attributes:
        name: registered name of the monitored model.
        version: its new version.
        inner: the wrapped registry version (None when wrapping a run or path URI).
        features: how drift features are extracted (``numeric``, ``pipeline``, ``function``).
        n_features: width of the drift features.
        task: the monitor's task (given, or inferred from the model's output).
    """

    name: str
    version: str
    inner: ModelRef | None
    features: str
    n_features: int
    task: str = "binary"

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>`` of the monitored model."""
        return f"models:/{self.name}/{self.version}"


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
    path = inner_dir / "requirements.txt"
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = [line for line in lines if line.strip() and not line.startswith("#")]
    return [*kept, f"mlflow-monitor=={__version__}"]


@contextlib.contextmanager
def _validating() -> Iterator[None]:
    previous = os.environ.get(VALIDATION_ENV)
    os.environ[VALIDATION_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(VALIDATION_ENV, None)
        else:
            os.environ[VALIDATION_ENV] = previous


def _check_reference_columns(reference: Any, inner: Any, model_uri: str) -> None:
    """Refuse a reference that lacks an input column the inner model's signature names."""
    schema = inner.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return
    missing = [name for name in schema.input_names() if name not in reference.columns]
    if missing:
        raise DataValidationError(
            f"reference data lacks the input column(s) {missing} of {model_uri!r} "
            f"(its columns: {[str(c) for c in reference.columns]})"
        )


# Reference rows the inner model predicts at wrap time, to check its output and infer the task.
_CHECKED_ROWS = 1000


def _checked_task(inner: Any, reference: Any, given_task: Any) -> tuple[str, Any]:
    """The monitor's task: ``given_task``, or the one the inner model's output on the
    reference looks like; and that output, which must have one prediction per row.

    Raises:
        DataValidationError: the output has another length or cannot be read.
    """
    from mlflow_monitor.model.outputs import infer_task

    sample = reference.head(_CHECKED_ROWS)
    try:
        output = inner.predict(sample)
    except Exception as exc:
        raise DataValidationError(
            f"the model failed to predict the first {len(sample)} reference rows: "
            f"{type(exc).__name__}: {exc}{missing_values_note(sample)}"
        ) from exc
    n_out = len(output) if hasattr(output, "__len__") else 0
    if n_out != len(sample):
        raise DataValidationError(
            f"the model returned {n_out} predictions for {len(sample)} reference rows; its "
            "output must have one prediction per input row (a pipeline fit on one text column "
            "may need that column, not the whole DataFrame)"
        )
    if given_task is not None:
        return str(given_task), output
    task = infer_task(output)
    logger.info("task inferred from the model's output on the reference: %s", task)
    return task, output


def _reference_outputs(output: Any, task: str, wrapper: WrapperSettings) -> dict[str, Any]:
    """What the inner model predicted on the reference, as ``reference_outputs.json`` holds
    it (prediction drift compares the served outputs with it)."""
    from mlflow_monitor.drift.predictions import OutputReference
    from mlflow_monitor.model.outputs import class_probability_matrix, interpret_output

    predictions, probabilities = interpret_output(
        output, wrapper.threshold, wrapper.labels, task=task, classes=wrapper.classes
    )
    values = [v.item() if hasattr(v, "item") else v for v in predictions]
    matrix = class_probability_matrix(output) if task == "multiclass" else None
    if matrix is not None:  # every class's probability, for the per-class tests
        classes = list(wrapper.classes) if len(wrapper.classes) == matrix.shape[1] else None
        return OutputReference(task, values, matrix, classes).to_dict()
    return OutputReference(task, values, probabilities).to_dict()


def _split_labels(reference: Any, reference_labels: Any) -> tuple[Any, list[Any] | None]:
    """The reference inputs and their labels (a column of the reference, or a sequence).

    Raises:
        DataValidationError: a missing column, a length that does not match, missing labels.
    """
    if reference_labels is None:
        return reference, None
    if isinstance(reference_labels, str):
        if reference_labels not in reference.columns:
            raise DataValidationError(
                f"reference_labels names the column {reference_labels!r}, which the reference "
                f"lacks (its columns: {[str(c) for c in reference.columns]})"
            )
        truth = reference[reference_labels].tolist()
        reference = reference.drop(columns=[reference_labels])
    else:
        truth = list(reference_labels)
        if len(truth) != len(reference):
            raise DataValidationError(
                f"{len(truth)} reference labels for {len(reference)} reference rows"
            )
    import pandas as pd

    missing = [i for i, v in enumerate(truth) if v is None or bool(pd.isna(v))]
    if missing:
        raise DataValidationError(
            f"{len(missing)} reference labels are missing (first at row {missing[0]})"
        )
    return reference, [v.item() if hasattr(v, "item") else v for v in truth]


def _estimation_reference(
    inner: Any,
    reference: Any,
    truth: list[Any],
    task: str,
    threshold: float,
    labels: tuple[Any, Any],
    positive: Any,
) -> dict[str, Any]:
    """The inner model's probabilities on the labelled reference, the labels, and the
    baseline metrics they give (key ``baseline``), with ``positive`` the positive class.

    Raises:
        DataValidationError: not a binary model, no probabilities in its output, or labels
            that are not its classes.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    from mlflow_monitor.model.outputs import interpret_output

    if task != "binary":
        raise DataValidationError(
            f"reference_labels are read for the tasks binary, multiclass and regression, "
            f"not {task!r} (give baseline_metrics instead)"
        )
    logger.info("predicting %d labelled reference rows for the estimation", len(reference))
    predictions, probabilities = interpret_output(inner.predict(reference), threshold, labels)
    if probabilities is None:
        raise DataValidationError(
            "the model's output has no probabilities, which estimation before labels needs"
        )
    unknown = sorted({str(v) for v in truth if v not in labels})
    if unknown:
        raise DataValidationError(
            f"reference labels {unknown[:5]} are not the model's classes {list(labels)}"
        )
    y_true = [int(v == positive) for v in truth]
    y_pred = [int(v == positive) for v in predictions]
    baseline = {
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_score": float(f1_score(y_true, y_pred, zero_division=0)),
    }
    return {
        "probabilities": [float(p) for p in probabilities],
        "labels": truth,
        "baseline": {k: round(v, 6) for k, v in baseline.items()},
    }


def _check_features(features: Any) -> None:
    """Refuse drift features no test can use: fewer than 2 rows, or every column constant.

    Raises:
        DataValidationError: naming what the extraction gave.
    """
    import numpy as np

    rows = int(features.shape[0])
    if rows < 2:
        raise DataValidationError(
            f"the drift feature extraction gave {rows} row(s) for the reference; it must give "
            "one row per reference row"
        )
    if not np.ptp(features, axis=0).any():
        raise DataValidationError(
            f"the drift feature extraction gave a constant {rows} x {features.shape[1]} matrix "
            "for the reference: no drift could ever be measured on it"
        )


def _task_baseline(baseline_metrics: Any, task: str, given: bool) -> dict[str, float]:
    try:
        return load_baseline(baseline_metrics, task)
    except DataValidationError as exc:
        origin = "given" if given else "inferred from the model's output; pass task= to choose"
        raise DataValidationError(f"{exc} (task {task!r}, {origin})") from exc


def _positive_label(raw_model: Any, labels: tuple[Any, Any]) -> Any:
    """The positive class of a binary model: scikit-learn's ``classes_[1]`` for a classifier
    of two classes, else the positive one of ``labels`` (1 by default)."""
    classes = _classes(raw_model)
    positive = classes[1] if len(classes) == 2 else labels[1]
    if isinstance(positive, bool) or (isinstance(positive, float) and positive.is_integer()):
        return int(positive)
    return positive


def _classes(raw_model: Any) -> tuple[Any, ...]:
    """A classifier's classes (scikit-learn's ``classes_``) as plain values, or ()."""
    classes = getattr(raw_model, "classes_", None)
    if classes is None:
        return ()
    return tuple(c.item() if hasattr(c, "item") else c for c in classes)


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
    feature_types: dict[str, str] | None = None,
    reference_labels: Any = None,
) -> WrappedModel:
    """Log and register a monitored pyfunc around an MLflow model.

    Uses the current MLflow tracking and registry URIs (``MLFLOW_TRACKING_URI`` or
    ``mlflow.set_tracking_uri``).

    Args:
        model_uri: the model to monitor, e.g. ``models:/reviews/3`` or ``models:/reviews@prod``.
        reference_data: training inputs (DataFrame, or a ``.parquet``/``.csv`` path); drift
            is measured against them.
        baseline_metrics: the task's metrics from the held-out evaluation (dict or JSON
            file path): ``precision``/``recall``/``accuracy``/``f1_score`` for binary,
            ``accuracy``/``macro_f1``/... for multiclass, ``mae``/``rmse``/``r2``/``mape``
            for regression. None with ``reference_labels``: computed from the inner model's
            predictions on the reference.
        config: monitor options (see :class:`~mlflow_monitor.config.MonitorConfig`); no
            callbacks (they are not serialisable). Without ``task``, the task is inferred
            from the inner model's output on the reference and stored in ``monitor.json``.
        registered_model_name: name to register under; ``<inner name>-monitored`` by default.
            Pass the inner name to add a new version of the same model instead.
        features: drift feature extraction: ``auto``, ``numeric``, ``pipeline``,
            ``tabular``, ``function`` (see :mod:`mlflow_monitor.drift.extraction`).
        preprocess_fn: ``"package.module:function"`` turning model input into features.
        max_features: width above which features are projected (truncated SVD).
        id_column: input column holding caller-supplied prediction ids.
        threshold: probability at or above which a prediction counts as positive.
        labels: ``(negative, positive)`` class labels.
        embed_inner_model: copy the inner model into the artifacts (True) or keep a pinned
            ``models:/name/version`` reference that is loaded at serve time (False).
        feature_types: column name to kind (``numeric``, ``categorical``, ``datetime``,
            ``text``), overriding the kinds inferred from the reference.
        reference_labels: the true labels of the reference rows (a sequence, or the name of
            a reference column, which is then not a model input). The inner model predicts
            the reference; its probabilities and these labels are stored with the version,
            the monitor estimates performance from them before labels arrive
            (``setup_performance_estimation``: binary, multiclass and regression models), and
            they give the baseline when ``baseline_metrics`` is None.

    Returns:
        The registered monitored model version.

    Raises:
        MonitorError: bad reference, baseline, config or an unreadable model; a model whose
            output on the reference has not one prediction per row; a baseline that does
            not fit the task.
    """
    import mlflow
    from mlflow import MlflowClient

    from mlflow_monitor.model.inner import raw_model_of

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
    given_task = (config or {}).get("task")
    options = _monitor_options(config)
    reference = load_reference(reference_data)
    reference, truth = _split_labels(reference, reference_labels)
    if baseline_metrics is None and truth is None:
        raise ConfigError("give baseline_metrics, or reference_labels to compute them from")
    stream = inner_ref or ModelRef(name, "0")
    options.update(model_name=stream.name, model_version=stream.version)

    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-wrap-") as tmp:
        work = Path(tmp)
        logger.info("downloading and loading %s", model_uri)
        try:
            inner_dir = Path(
                mlflow.artifacts.download_artifacts(
                    model_uri, dst_path=str(work / ARTIFACTS["inner_model"])
                )
            )
            inner = mlflow.pyfunc.load_model(str(inner_dir))
        except mlflow.exceptions.MlflowException as exc:
            raise MonitorError(f"cannot load model {model_uri!r}: {exc.message}") from exc
        _check_reference_columns(reference, inner, model_uri)
        raw_model = raw_model_of(inner)
        task, reference_output = _checked_task(inner, reference, given_task)
        options["task"] = task
        if task == "binary" and "positive_label" not in (config or {}):
            options["positive_label"] = _positive_label(raw_model, labels)
        estimation = None
        if truth is not None:
            positive = options.get("positive_label", labels[1])
            if task == "multiclass":
                from mlflow_monitor.model.multiclass import multiclass_estimation_reference

                classes = _classes(raw_model)
                estimation = multiclass_estimation_reference(inner, reference, truth, classes)
            elif task == "regression":
                from mlflow_monitor.model.regression import regression_estimation_reference

                estimation = regression_estimation_reference(inner, reference, truth)
            else:
                estimation = _estimation_reference(
                    inner, reference, truth, task, threshold, labels, positive
                )
            if baseline_metrics is None:
                baseline_metrics = estimation.pop("baseline")
                logger.info("baseline computed from the reference labels: %s", baseline_metrics)
            estimation.pop("baseline", None)
        baseline = _task_baseline(baseline_metrics, task, given_task is not None)
        logger.info("extracting drift features from %d reference rows", len(reference))
        extractor = FeatureExtractor(features, preprocess_fn, max_features, feature_types)
        try:
            with warnings.catch_warnings():
                # An empty text divides by zero in a TF-IDF norm: found below, by row.
                warnings.simplefilter("ignore", RuntimeWarning)
                reference_features = extractor.fit(reference, raw_model)
        except MonitorError:
            raise
        except Exception as exc:  # the model's own transformers, on the reference rows
            raise DataValidationError(
                f"cannot extract drift features from the reference data: "
                f"{type(exc).__name__}: {exc}{missing_values_note(reference)}"
            ) from exc
        finite = np.isfinite(np.asarray(reference_features, dtype=float)).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise DataValidationError(
                f"{len(bad)} reference rows give non-finite drift features (first: row "
                f"{int(bad[0])}, {reference.iloc[int(bad[0])].to_dict()!r}); an empty text or "
                "a value the model's transformers cannot handle? Drop or fix those rows"
            )
        if len(reference_features) < MIN_REFERENCE_ROWS:
            raise DataValidationError(
                f"reference must have at least {MIN_REFERENCE_ROWS} rows of drift features, "
                f"got {len(reference_features)}"
            )
        _check_features(reference_features)
        logger.info("drift features: %s, %d columns", extractor.kind_, reference_features.shape[1])
        extractor.save(work / ARTIFACTS["features"])
        keep_last = MonitorConfig.from_dict(options).reference_size
        save_reference_features(
            work / ARTIFACTS["reference_features"], reference_features, keep_last
        )
        reference.to_parquet(work / ARTIFACTS["reference"])
        (work / ARTIFACTS["baseline"]).write_text(json.dumps(baseline, indent=2))
        wrapper = WrapperSettings(
            inner_model_uri=inner_ref.uri if inner_ref else model_uri,
            id_column=id_column,
            threshold=threshold,
            labels=labels,
            input_columns=tuple(str(c) for c in reference.columns),
            classes=_classes(raw_model) if task == "multiclass" else (),
        )
        write_settings(work / ARTIFACTS["monitor"], options, wrapper)
        outputs = _reference_outputs(reference_output, task, wrapper)
        (work / ARTIFACTS["reference_outputs"]).write_text(json.dumps(outputs))
        if estimation is not None:
            (work / ARTIFACTS["estimation"]).write_text(json.dumps(estimation))
        artifacts = {
            key: str(work / path)
            for key, path in ARTIFACTS.items()
            if (key != "inner_model" or embed_inner_model)
            and (key != "estimation" or estimation is not None)
        }
        if embed_inner_model:
            artifacts["inner_model"] = str(inner_dir)
        from mlflow.models import Model

        inner_meta = Model.load(str(inner_dir))
        input_example = inner_meta.load_input_example(str(inner_dir))
        signature = _signature_with_monitoring(inner_meta.signature, id_column)
        logger.info("logging and registering the monitored model as %r", name)
        code = importlib.resources.files("mlflow_monitor").joinpath(_MODEL_CODE)
        with _validating(), importlib.resources.as_file(code) as code_path:
            info = mlflow.pyfunc.log_model(
                name="monitored_model",
                python_model=str(code_path),
                artifacts=artifacts,
                signature=signature,
                input_example=input_example,
                registered_model_name=name,
                pip_requirements=_requirements(inner_dir),
                # declaring a model_config lets load_model(model_config=...) override it
                model_config={"schedule_checks": True},
            )
    version = str(info.registered_model_version)
    tags = {f"{BASELINE_TAG_PREFIX}{k}": f"{v:.4g}" for k, v in baseline.items()}
    for key, value in {**tags, TAG_INNER_URI: wrapper.inner_model_uri}.items():
        client.set_model_version_tag(name, version, key, value)
    if inner_ref is not None and inner_ref.name != name:
        for key, value in {**tags, TAG_MONITORED: f"models:/{name}/{version}"}.items():
            client.set_model_version_tag(inner_ref.name, inner_ref.version, key, value)
    experiment = options.get("experiment_name") or f"monitoring/{stream.name}"
    inner_version = (inner_ref.name, inner_ref.version) if inner_ref is not None else None
    note_wrapped(client, (name, version), inner_version, experiment)
    return WrappedModel(
        name, version, inner_ref, str(extractor.kind_), reference_features.shape[1], task
    )
