"""MonitoredModel: an ordinary MLflow pyfunc that records every prediction it makes.

It is logged as "models from code" (:mod:`mlflow_monitor.monitored_model_code`), so loading it
runs no pickled code of ours. Its artifacts hold the inner model, the reference data and the
extracted reference features, ``baseline.json`` and ``monitor.json``; see
:func:`mlflow_monitor.registry.wrap`.

Loading starts the monitor's periodic checks unless ``model_config={"schedule_checks": False}``
is passed to ``mlflow.pyfunc.load_model`` (as ``mlflow-monitor check`` does). Predictions go to
the shared store of :func:`resolve_store_uri`.

``predict`` returns exactly what the inner model returns. Recording costs little: the input
rows (one object matrix in ``input_columns`` order), the output arrays and the batch's
generated ids go into the monitor's store as they are; id strings are made when read, feature
extraction and the drift statistics run later, in checks.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from mlflow_monitor.extraction import FeatureExtractor
from mlflow_monitor.ids import new_ids
from mlflow_monitor.outputs import interpret_output
from mlflow_monitor.store import as_list

__all__ = [
    "ARTIFACTS",
    "RETURN_IDS_PARAM",
    "STORE_URI_ENV",
    "MonitoredModel",
    "raw_model_of",
    "resolve_store_uri",
]

logger = logging.getLogger(__name__)

RETURN_IDS_PARAM = "return_prediction_ids"
STORE_URI_ENV = "MLFLOW_MONITOR_STORE_URI"
# Set while wrap() logs the model: MLflow then loads it and predicts its input example, and
# those predictions must not reach the shared store nor start the scheduler.
VALIDATION_ENV = "MLFLOW_MONITOR_VALIDATING"
ARTIFACTS = {
    "inner_model": "inner_model",
    "reference": "reference.parquet",
    "reference_features": "reference_features.npz",
    "features": "features",
    "baseline": "baseline.json",
    "monitor": "monitor.json",
}


class MonitoredModel(PythonModel):
    """Wraps an inner pyfunc model and feeds a :class:`~mlflow_monitor.ModelMonitor`."""

    # MLflow would wrap predict for type-hint validation; the input schema is the inner
    # model's signature, already enforced, so skip the wrapper and its warning at import.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        """Load the inner model and build the monitor from the artifacts."""
        from mlflow_monitor.monitor import ModelMonitor
        from mlflow_monitor.registry import load_reference_features

        artifacts = context.artifacts
        settings = json.loads(Path(artifacts["monitor"]).read_text())
        self.wrapper = dict(settings["wrapper"])
        inner_location = artifacts.get("inner_model") or self.wrapper["inner_model_uri"]
        # The outer model's requirements include the inner model's (see registry.wrap) and
        # MLflow has just checked them against the environment; checking again per load
        # (importlib.metadata for every line) would double that part of the load time.
        self.inner = mlflow.pyfunc.load_model(inner_location, suppress_warnings=True)
        # Call the inner flavor's predict function directly: the outer pyfunc has already
        # enforced the same signature, and going through a second PyFuncModel.predict would
        # pay MLflow's input handling twice.
        self._inner_predict = getattr(self.inner, "_predict_fn", None) or self.inner.predict
        accepts = inspect.signature(self._inner_predict).parameters.get("params")
        self._inner_takes_params = bool(accepts and accepts.kind != accepts.VAR_KEYWORD)
        raw_model = raw_model_of(self.inner)
        extractor = FeatureExtractor.load(artifacts["features"], raw_model)
        self.extractor = extractor
        options = dict(settings["monitor"])
        overrides = dict(getattr(context, "model_config", None) or {})
        validating = os.environ.get(VALIDATION_ENV) == "1"
        if validating:
            options["store_uri"] = None
            overrides["schedule_checks"] = False
        else:
            options["store_uri"] = resolve_store_uri(
                overrides.get("store_uri") or options["store_uri"]
            )
        self.monitor = ModelMonitor(options)
        # The bandwidth stored at wrap time spares fit the median heuristic (about 15 ms for
        # 1000 rows); models wrapped before it was stored have none, and fit computes it.
        reference, bandwidth = load_reference_features(artifacts["reference_features"])
        self.input_columns: list[str] = list(self.wrapper.get("input_columns") or [])
        self._id_column = str(self.wrapper.get("id_column", "prediction_id"))
        self._threshold = float(self.wrapper.get("threshold", 0.5))
        labels = self.wrapper.get("labels", (0, 1))
        self._labels = (labels[0], labels[1])
        if self.monitor.config.enable_drift_detection:
            self.monitor.drift_detector = self._drift_detector().fit(
                pd.DataFrame(reference, columns=extractor.feature_names_),
                preprocessed=True,
                bandwidth=bandwidth,
            )
        baseline = json.loads(Path(artifacts["baseline"]).read_text())
        if baseline:
            self.monitor.setup_performance_baseline(baseline)
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
        from mlflow_monitor.drift import DriftDetector

        return DriftDetector.from_config(self.monitor.config, self._features_of_rows)

    # model_input stays unannotated: MLflow derives an input schema from a type hint on it.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """Return the inner model's output for ``model_input`` and record the call.

        An ``id_column`` in the input (default ``prediction_id``) supplies prediction ids
        and is removed before the inner model sees the input; otherwise ids are generated.
        With ``params={"return_prediction_ids": True}`` the output is a DataFrame with a
        ``prediction_id`` column followed by the inner output's columns.
        """
        return_ids = False
        if params:
            params = dict(params)
            return_ids = bool(params.pop(RETURN_IDS_PARAM, False))
        id_column = self._id_column
        ids: list[str] | None = None
        if isinstance(model_input, pd.DataFrame) and id_column in model_input.columns:
            ids = [str(v) for v in model_input[id_column]]
            model_input = model_input.drop(columns=[id_column])
        if self._inner_takes_params:
            output = self._inner_predict(model_input, params=params or None)
        else:
            output = self._inner_predict(model_input)
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
            predictions, probabilities = interpret_output(
                output, threshold=self._threshold, labels=self._labels
            )
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
            # Monitoring must never break the prediction it watches.
            logger.exception("recording %d predictions failed", _length(model_input))
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


# MLflow's PythonModel wrapper calls inspect.signature(predict) on every predict call; a
# stored signature is returned without parsing the function again (about 8 us per call).
MonitoredModel.predict.__signature__ = inspect.signature(MonitoredModel.predict)  # type: ignore[attr-defined]


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


def _length(data: Any) -> int:
    return len(data) if hasattr(data, "__len__") else int(np.asarray(data).shape[0])


def raw_model_of(inner: Any) -> Any:
    """The flavor's own model object behind a PyFuncModel (e.g. a sklearn Pipeline), or None."""
    try:
        return inner.get_raw_model()
    except Exception:
        return None
