"""What a monitored model version holds, and how each part is read and written.

The layout of the version's artifacts (:data:`ARTIFACTS`):

- ``inner_model/``: the wrapped model (absent when it is kept as a ``models:/`` reference);
- ``reference.parquet``: the reference model inputs;
- ``reference_features.npz``: the drift features extracted from them and, since they are fixed
  once wrapped, the median-heuristic kernel bandwidth of the rows drift detection keeps
  (:func:`save_reference_features`), so that loading the model does not compute it again;
- ``features/``: how drift features are extracted
  (:class:`~mlflow_monitor.drift.extraction.FeatureExtractor`);
- ``baseline.json``: the baseline metrics;
- ``monitor.json``: the monitor's options and the wrapper's own settings
  (:class:`WrapperSettings`), read by :func:`read_settings`;
- ``reference_outputs.json``: the inner model's predictions (and probabilities) on the first
  reference rows, for prediction drift.

Models wrapped by earlier versions lack some of these keys or files; every reader here fills
in what an older model does not have.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift import ReferenceBandwidth
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.performance.tracker import validate_baseline

__all__ = [
    "ARTIFACTS",
    "MIN_REFERENCE_ROWS",
    "RETURN_IDS_PARAM",
    "VALIDATION_ENV",
    "WrapperSettings",
    "load_baseline",
    "load_reference",
    "load_reference_features",
    "missing_values_note",
    "read_settings",
    "save_reference_features",
    "write_settings",
]

logger = logging.getLogger(__name__)

ARTIFACTS = {
    "inner_model": "inner_model",
    "reference": "reference.parquet",
    "reference_features": "reference_features.npz",
    "features": "features",
    "baseline": "baseline.json",
    "monitor": "monitor.json",
    "reference_outputs": "reference_outputs.json",
    # only with reference labels: the reference's probabilities and labels for estimation
    "estimation": "estimation_reference.json",
}
# The monitored model's own parameter (in its signature): answer with the prediction ids.
RETURN_IDS_PARAM = "return_prediction_ids"
# Set while wrap() logs the model: MLflow then loads it and predicts its input example, and
# those predictions must not reach the shared store nor start the scheduler.
VALIDATION_ENV = "MLFLOW_MONITOR_VALIDATING"
# Keys of reference_features.npz besides "features"; models wrapped before these were stored
# lack them, and loading computes the bandwidth instead.
_BANDWIDTH = "bandwidth"
_BANDWIDTH_ROWS = "bandwidth_rows"
_BANDWIDTH_DIGEST = "bandwidth_digest"


@dataclass(frozen=True)
class WrapperSettings:
    """How a monitored model reads its input and its inner model's output.

    Attributes:
        inner_model_uri: the wrapped model (a pinned ``models:/name/version`` or the URI given).
        id_column: input column holding caller-supplied prediction ids.
        threshold: probability at or above which a prediction counts as positive.
        labels: ``(negative, positive)`` class labels.
        input_columns: the reference's columns, in order: how recorded input rows are read.
        classes: a multiclass model's classes in the order of its probability columns
            (empty when unknown; a probability matrix then gives class indices).
    """

    inner_model_uri: str
    id_column: str = "prediction_id"
    threshold: float = 0.5
    labels: tuple[Any, Any] = (0, 1)
    input_columns: tuple[str, ...] = field(default_factory=tuple)
    classes: tuple[Any, ...] = field(default_factory=tuple)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WrapperSettings:
        """Read the ``wrapper`` part of ``monitor.json``; keys an older model lacks take
        their defaults."""
        labels = data.get("labels") or (0, 1)
        return cls(
            inner_model_uri=str(data["inner_model_uri"]),
            id_column=str(data.get("id_column") or "prediction_id"),
            threshold=float(data.get("threshold", 0.5)),
            labels=(labels[0], labels[1]),
            input_columns=tuple(str(c) for c in data.get("input_columns") or ()),
            classes=tuple(data.get("classes") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``monitor.json``."""
        return {
            "inner_model_uri": self.inner_model_uri,
            "id_column": self.id_column,
            "threshold": self.threshold,
            "labels": list(self.labels),
            "input_columns": list(self.input_columns),
            "classes": list(self.classes),
        }


def write_settings(path: str | Path, options: Mapping[str, Any], wrapper: WrapperSettings) -> None:
    """Write ``monitor.json``: the monitor's options and the wrapper's settings."""
    settings = {"monitor": dict(options), "wrapper": wrapper.to_dict()}
    Path(path).write_text(json.dumps(settings, indent=2))


def read_settings(path: str | Path) -> tuple[dict[str, Any], WrapperSettings]:
    """Read ``monitor.json``: the monitor's options (as a dict) and the wrapper's settings."""
    settings = json.loads(Path(path).read_text())
    return dict(settings["monitor"]), WrapperSettings.from_dict(settings["wrapper"])


MIN_REFERENCE_ROWS = 2
"""Fewest reference rows a monitored model can load with (the drift test needs two)."""


def load_reference(reference: Any) -> Any:
    """Reference data as a DataFrame: a DataFrame, or a ``.parquet``/``.csv`` file path.

    Raises:
        DataValidationError: unreadable file, unknown extension or fewer than two rows.
    """
    import pandas as pd

    if isinstance(reference, pd.DataFrame):
        frame = reference
    elif isinstance(reference, str | Path):
        path = Path(reference)
        if not path.is_file():
            raise DataValidationError(f"reference file {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise DataValidationError(f"reference file must be .parquet or .csv, got {path.name!r}")
        try:
            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:  # pandas and pyarrow raise many kinds for a bad file
            raise DataValidationError(
                f"cannot read the reference file {str(path)!r} as {suffix[1:]}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
    else:
        frame = pd.DataFrame(np.asarray(reference))
        frame.columns = [f"feature_{i}" for i in range(frame.shape[1])]
    if frame.empty:
        raise DataValidationError("reference data is empty")
    if len(frame) < MIN_REFERENCE_ROWS:
        raise DataValidationError(
            f"reference must have at least {MIN_REFERENCE_ROWS} rows, got {len(frame)}"
        )
    return frame


def missing_values_note(frame: Any) -> str:
    """Where a reference frame has missing values, as a note for an error message ("" when it
    has none): a model or a feature extraction that fails on them says little itself."""
    notes = []
    for column in frame.columns:
        missing = frame[column].isna().to_numpy()
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            notes.append(f"{column!r}: {int(missing.sum())} missing values (first at row {first})")
    if not notes:
        return ""
    return f" (the reference has missing values: {'; '.join(notes[:3])}; drop or fill them)"


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


def load_baseline(baseline: Any, task: str = "binary") -> dict[str, float]:
    """Baseline metrics of ``task`` from a dict or a JSON file, validated.

    Raises:
        DataValidationError: a missing or unreadable file, or metrics that are not valid.
    """
    if isinstance(baseline, str | Path):
        path = Path(baseline)
        if not path.is_file():
            raise DataValidationError(f"baseline file {str(path)!r} does not exist")
        try:
            baseline = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataValidationError(f"baseline file {str(path)!r} is not JSON: {exc}") from exc
    return validate_baseline(baseline, task)
