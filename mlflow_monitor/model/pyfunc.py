"""MonitoredModel: an ordinary MLflow pyfunc that records every prediction it makes.

It is logged as "models from code" (:mod:`mlflow_monitor.monitored_model_code`), so loading it
runs no pickled code of ours. Its artifacts hold the inner model, the reference data and the
extracted reference features, ``baseline.json`` and ``monitor.json``; see
:func:`mlflow_monitor.model.wrap.wrap`.

Loading starts the monitor's periodic checks unless ``model_config={"schedule_checks": False}``
is passed to ``mlflow.pyfunc.load_model`` (as ``mlflow-monitor check`` does). Predictions go to
the shared store of :func:`resolve_store_uri`.

``predict`` returns exactly what the inner model returns. Recording costs little: the input
rows (one object matrix in ``input_columns`` order), the output arrays and the batch's
generated ids go into the monitor's store as they are; id strings are made when read, feature
extraction and the drift statistics run later, in checks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mlflow_monitor._mlflow_compat import UnvalidatedPythonModel, cache_signature
from mlflow_monitor.drift.extraction import FeatureExtractor
from mlflow_monitor.model.artifacts import (
    RETURN_IDS_PARAM,
    VALIDATION_ENV,
    load_reference_features,
    read_settings,
)
from mlflow_monitor.model.inner import InnerModel
from mlflow_monitor.model.outputs import class_probability_matrix, interpret_output
from mlflow_monitor.store import as_list
from mlflow_monitor.store.ids import new_ids

__all__ = [
    "RETURN_IDS_PARAM",
    "STORE_URI_ENV",
    "MonitoredModel",
    "given_ids",
    "resolve_store_uri",
]

logger = logging.getLogger(__name__)

STORE_URI_ENV = "MLFLOW_MONITOR_STORE_URI"


class MonitoredModel(UnvalidatedPythonModel):
    """Wraps an inner pyfunc model and feeds a :class:`~mlflow_monitor.ModelMonitor`.

    Attributes:
        admit: None, or ``admit(rows)`` returning a context manager that each ``predict``
            call enters before predicting and leaves once it recorded; it raises to refuse
            the call (the serve app sets it, see :mod:`mlflow_monitor.serving.admission`).
    """

    admit: Callable[[int], AbstractContextManager[Any]] | None = None

    def load_context(self, context: Any) -> None:
        """Load the inner model and build the monitor from the artifacts."""
        from mlflow_monitor.monitor import ModelMonitor

        artifacts = context.artifacts
        options, self.settings = read_settings(artifacts["monitor"])
        self.inner = InnerModel(artifacts.get("inner_model") or self.settings.inner_model_uri)
        self.extractor = FeatureExtractor.load(artifacts["features"], self.inner.raw)
        overrides = dict(getattr(context, "model_config", None) or {})
        if os.environ.get(VALIDATION_ENV) == "1":
            options["store_uri"] = None
            overrides["schedule_checks"] = False
        else:
            options["store_uri"] = resolve_store_uri(
                overrides.get("store_uri") or options["store_uri"]
            )
        if options.get("task") == "multiclass" and self.settings.classes:
            # The order of the recorded class probabilities: the inner model's classes.
            options["classes"] = options.get("classes") or list(self.settings.classes)
        self.monitor = ModelMonitor(options)
        # The bandwidth stored at wrap time spares fit the median heuristic (about 15 ms for
        # 1000 rows); models wrapped before it was stored have none, and fit computes it.
        reference, bandwidth = load_reference_features(artifacts["reference_features"])
        self.input_columns: list[str] = list(self.settings.input_columns)
        if self.monitor.config.enable_drift_detection:
            self.monitor.drift_detector = self._drift_detector().fit(
                pd.DataFrame(reference, columns=self.extractor.feature_names_),
                preprocessed=True,
                bandwidth=bandwidth,
            )
        outputs = artifacts.get("reference_outputs")  # absent from older models
        if outputs and Path(outputs).is_file():
            saved = json.loads(Path(outputs).read_text())
            scores = saved.get("class_probabilities") or saved.get("probabilities")
            self.monitor.setup_prediction_drift(saved["predictions"], scores)
        baseline = json.loads(Path(artifacts["baseline"]).read_text())
        if baseline:
            self.monitor.setup_performance_baseline(baseline)
        estimation = artifacts.get("estimation")  # only with reference labels
        tracking = self.monitor.performance_tracker is not None
        if estimation and Path(estimation).is_file() and tracking:
            saved = json.loads(Path(estimation).read_text())
            # classifiers keep probabilities, regression models their predicted values
            outputs = saved["probabilities"] if "probabilities" in saved else saved["predictions"]
            self.monitor.setup_performance_estimation(outputs, saved["labels"])
        if overrides.get("schedule_checks", True):
            self.monitor.start_monitoring()

    def _features_of_rows(self, rows: list[Any]) -> Any:
        columns = self.input_columns or None
        if columns and any(isinstance(row, dict) for row in rows):
            # Rows recorded as dicts (inputs whose columns differ from input_columns, or
            # written by an older version into a shared store) next to list rows.
            rows = [[r.get(c) for c in columns] if isinstance(r, dict) else r for r in rows]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        return self.extractor.transform(frame)

    def _drift_detector(self) -> Any:
        """A detector that extracts features from recorded raw rows at check time."""
        from mlflow_monitor.drift.detector import DriftDetector

        detector = DriftDetector.from_config(self.monitor.config, self._features_of_rows)
        detector.encoder = self.extractor.encoder_  # per-column tests, named after the input
        return detector

    # model_input stays unannotated: MLflow derives an input schema from a type hint on it.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """Return the inner model's output for ``model_input`` and record the call.

        An ``id_column`` in the input (default ``prediction_id``) supplies prediction ids
        and is removed before the inner model sees the input; otherwise ids are generated.
        Given ids are checked before predicting (see :func:`given_ids`), so that every row
        answered is one the monitor records.
        With ``params={"return_prediction_ids": True}`` the output is a DataFrame with a
        ``prediction_id`` column followed by the inner output's columns.
        """
        return_ids = False
        if params:
            params = dict(params)
            return_ids = bool(params.pop(RETURN_IDS_PARAM, False))
        id_column = self.settings.id_column
        ids: list[str] | None = None
        if isinstance(model_input, pd.DataFrame) and id_column in model_input.columns:
            ids = given_ids(model_input[id_column], id_column)
            model_input = model_input.drop(columns=[id_column])
        admit = self.admit
        with admit(_length(model_input)) if admit is not None else contextlib.nullcontext():
            output = self.inner.predict(model_input, params)
            recorded = self._record(model_input, output, ids)
        if return_ids:
            ids = as_list(recorded) if recorded else ids or new_ids(_length(model_input))
            frame = output if isinstance(output, pd.DataFrame) else pd.DataFrame(output)
            if not isinstance(output, pd.DataFrame) and frame.shape[1] == 1:
                frame.columns = ["prediction"]
            frame = frame.copy()
            frame.insert(0, "prediction_id", ids)
            return frame
        return output

    def _record(self, model_input: Any, output: Any, ids: list[str] | None) -> Sequence[str] | None:
        """Record one predict call; the prediction ids (generated when ``ids`` is None), or
        None when recording failed."""
        try:
            settings = self.settings
            task = self.monitor.config.task
            predictions, probabilities = interpret_output(
                output,
                threshold=settings.threshold,
                labels=settings.labels,
                task=task,
                classes=settings.classes,
            )
            if task == "multiclass":  # keep every class's probability, not only the best
                matrix = class_probability_matrix(output)
                probabilities = probabilities if matrix is None else matrix
            rows = self._rows(model_input)
            if len(predictions) == 1:  # one row: the monitor's cheaper single-prediction path
                row = rows[0].tolist() if isinstance(rows, np.ndarray) else rows[0]
                pid = self.monitor.record_prediction(
                    predictions[0],
                    None if probabilities is None else probabilities[0],
                    features=row,
                    prediction_id=None if ids is None else ids[0],
                )
                return [pid]
            return self.monitor.record_batch(
                predictions, probabilities, features=rows, prediction_ids=ids
            )
        except Exception:
            # Monitoring must never break the prediction it watches; the loss is counted.
            logger.exception("recording %d predictions failed", _length(model_input))
            metrics = self.monitor.prometheus_metrics
            if metrics is not None:
                metrics.count_dropped(_length(model_input))
            return None

    def _rows(self, model_input: Any) -> Any:
        """The input rows to keep for drift checks, as cheap to make as possible.

        A DataFrame with exactly the ``input_columns`` becomes one object matrix, a copy of
        its values in column order (30 us for 10,000 rows, against 1.2 ms for a list per row
        and 12 ms for ``to_dict("records")``); the store makes lists of the rows it keeps, and
        :meth:`_features_of_rows` puts the column names back at check time. Other frames keep
        their column names, as one dict per row.
        """
        if not isinstance(model_input, pd.DataFrame):
            return list(np.asarray(model_input))
        if self.input_columns and list(model_input.columns) == self.input_columns:
            return model_input.to_numpy(dtype=object, copy=True)
        return model_input.to_dict("records")


# MLflow's PythonModel wrapper calls inspect.signature(predict) on every predict call.
cache_signature(MonitoredModel.predict)


def resolve_store_uri(configured: str | None = None) -> str:
    """Where a monitored model records: the shared inference store's SQLAlchemy URL.

    In order: ``MLFLOW_MONITOR_STORE_URI``; the URI configured at wrap time (or passed as
    ``model_config={"store_uri": ...}`` at load time); a SQLite file
    ``mlflow-monitor.db`` next to a SQLite tracking store; else ``mlflow-monitor.db`` in the
    working directory, as MLflow's own default ``mlflow.db``.
    """
    from_env = os.environ.get(STORE_URI_ENV)
    if from_env:
        return from_env
    if configured:
        return configured
    tracking = mlflow.get_tracking_uri()
    if tracking.startswith("sqlite:///"):
        path = Path(tracking.removeprefix("sqlite:///"))
        return f"sqlite:///{path.parent / 'mlflow-monitor.db'}"
    return "sqlite:///mlflow-monitor.db"


def given_ids(column: pd.Series[Any], id_column: str) -> list[str]:
    """The prediction ids an input's ``id_column`` gives, as strings.

    Raises:
        DataValidationError: a missing (null) id, an id repeated in the input, or one the
            monitor cannot record (empty, over 255 characters, a NUL character or a lone
            surrogate), naming the column.
    """
    from mlflow_monitor.exceptions import DataValidationError, FeedbackError
    from mlflow_monitor.monitor.validation import prediction_id_column

    missing = column.isna()
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise DataValidationError(f"{id_column}: row {row} has no id (null); give one per row")
    try:
        return as_list(prediction_id_column([str(v) for v in column], len(column)))
    except (DataValidationError, FeedbackError) as exc:  # FeedbackError: an id repeated
        raise DataValidationError(f"{id_column}: {exc}") from exc


def _length(data: Any) -> int:
    return len(data) if hasattr(data, "__len__") else int(np.asarray(data).shape[0])
