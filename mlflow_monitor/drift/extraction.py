"""From raw model input to the numeric features that drift checks compare.

A :class:`FeatureExtractor` is fitted once, on the reference data, when a model is wrapped,
and saved next to the model as JSON + npz (no pickle). How features are made, in order of
precedence:

1. ``preprocess_fn="package.module:function"``: the user's function, given the model input
   (a DataFrame), returns a 2-D array (dense or scipy sparse).
2. ``"pipeline"``: the inner model is a scikit-learn ``Pipeline`` with more than one step;
   its transform steps (all but the final estimator) produce the features, exactly what the
   estimator sees.
3. ``"tabular"``: a DataFrame with categorical (str, ``category``, bool) or datetime
   columns, or with missing values: each column encoded by its kind
   (:class:`~mlflow_monitor.drift.tabular.TabularEncoder`; ``feature_types`` overrides the
   inferred kinds).
4. ``"numeric"``: the numeric columns of the input DataFrame, as they are.

Whatever makes the features, a DataFrame reference that is not all finite numbers (text
columns too) also gets a :class:`~mlflow_monitor.drift.tabular.TabularEncoder`,
:attr:`FeatureExtractor.encoder_`: drift results then name the input columns (``color``,
``review.text.length``), never the components of a projection.

If the result is sparse or wider than ``max_features`` (default 32), a linear projection
(truncated SVD, fitted on the reference) reduces it to ``max_features`` dense columns, so a
TF-IDF matrix with thousands of columns becomes a small dense matrix the MMD test handles well.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.columns import column_kinds, needs_column_kinds
from mlflow_monitor.drift.features import as_feature_matrix
from mlflow_monitor.drift.tabular import TabularEncoder
from mlflow_monitor.exceptions import ConfigError, DataValidationError

__all__ = ["EXTRACTION_KINDS", "FeatureExtractor", "resolve_callable"]

EXTRACTION_KINDS = ("auto", "function", "pipeline", "tabular", "numeric")
_SPEC_FILE = "features.json"
_COLUMNS_FILE = "columns.json"
_PROJECTION_FILE = "projection.npz"


def resolve_callable(path: str) -> Callable[[Any], Any]:
    """Import ``"package.module:function"`` and return the function.

    Raises:
        ConfigError: the path is malformed, the module cannot be imported or the attribute
            is missing or not callable.
    """
    module_name, sep, attribute = str(path).partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"preprocess_fn must look like 'package.module:function', got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} of preprocess_fn: {exc}") from exc
    for part in attribute.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ConfigError(f"preprocess_fn {path!r} does not name a callable")
    return target  # type: ignore[no-any-return]


def _transform_steps(model: Any) -> Any | None:
    """The transform part of a scikit-learn Pipeline, or None for anything else."""
    steps = getattr(model, "steps", None)
    if not isinstance(steps, list) or len(steps) < 2 or not hasattr(model, "__getitem__"):
        return None
    return model[:-1]


def _mixed(reference: Any, feature_types: dict[str, str]) -> bool:
    """A DataFrame with a categorical or datetime column or a missing value: encoded column
    by column (text and numbers alone go to a pipeline or stay numeric). A column of
    distinct strings is an identifier, whose values never repeat: it does not count."""
    if not needs_column_kinds(reference) and not feature_types:
        return False
    kinds = column_kinds(reference, feature_types)
    if bool(reference.isna().to_numpy().any()) or "datetime" in kinds.values():
        return True
    return any(
        kind == "categorical" and (name in feature_types or _repeats(reference[name]))
        for name, kind in kinds.items()
    )


def _repeats(series: Any) -> bool:
    from pandas.api import types

    return types.is_bool_dtype(series.dtype) or series.nunique(dropna=True) < len(series)


def _is_sparse(matrix: Any) -> bool:
    return hasattr(matrix, "tocsr") and hasattr(matrix, "nnz")


class FeatureExtractor:
    """Turns model input into the dense numeric matrix used for drift detection.

    Args:
        kind: ``"auto"`` (choose as the module docstring says), ``"function"``,
            ``"pipeline"`` or ``"numeric"``.
        preprocess_fn: import path of a function for ``kind="function"`` (or ``"auto"``).
        max_features: width above which a projection fitted on the reference is applied.
        feature_types: column name to kind for the column tests (and ``"tabular"``
            features), overriding the inferred kinds.
    """

    def __init__(
        self,
        kind: str = "auto",
        preprocess_fn: str | None = None,
        max_features: int = 32,
        feature_types: dict[str, str] | None = None,
    ) -> None:
        if kind not in EXTRACTION_KINDS:
            raise ConfigError(f"features must be one of {EXTRACTION_KINDS}, got {kind!r}")
        if isinstance(max_features, bool) or not isinstance(max_features, int) or max_features < 1:
            raise ConfigError(f"max_features must be an integer >= 1, got {max_features!r}")
        self.kind = kind
        self.preprocess_fn = preprocess_fn
        self.max_features = max_features
        self.kind_: str | None = None
        self.columns_: list[str] = []
        self.feature_names_: list[str] = []
        self.feature_types = dict(feature_types or {})
        self.projection_: FloatArray | None = None
        self.encoder_: TabularEncoder | None = None
        self._function: Callable[[Any], Any] | None = None
        self._pipeline: Any = None

    def _choose(self, model: Any, reference: Any = None) -> str:
        if self.kind != "auto":
            return self.kind
        if self.preprocess_fn:
            return "function"
        if reference is not None and _mixed(reference, self.feature_types):
            return "tabular"
        if _transform_steps(model) is not None:
            return "pipeline"
        return "numeric"

    def bind(self, model: Any) -> FeatureExtractor:
        """Attach the runtime pieces: the user function or the model's transform steps."""
        kind = self.kind_ or self._choose(model)
        if kind == "function":
            if not self.preprocess_fn:
                raise ConfigError("features='function' needs preprocess_fn='package.module:fn'")
            self._function = resolve_callable(self.preprocess_fn)
        elif kind == "pipeline":
            self._pipeline = _transform_steps(model)
            if self._pipeline is None:
                raise ConfigError(
                    "features='pipeline' needs a scikit-learn Pipeline with at least two "
                    f"steps as the inner model, got {type(model).__name__}"
                )
        return self

    def _raw(self, data: Any) -> Any:
        if self.kind_ == "function":
            assert self._function is not None
            return self._function(data)
        if self.kind_ == "pipeline":
            return self._pipeline.transform(data)
        if self.kind_ == "tabular":
            assert self.encoder_ is not None
            return self.encoder_.transform(data)
        frame = data
        if hasattr(frame, "columns"):
            missing = [c for c in self.columns_ if c not in frame.columns]
            if missing:
                raise DataValidationError(f"input lacks the numeric columns {missing}")
            return frame[self.columns_].to_numpy(dtype=np.float64)
        return np.asarray(frame, dtype=np.float64)

    def fit(self, reference: Any, model: Any = None) -> FloatArray:
        """Choose the extraction, fit the projection on ``reference``, return its features.

        Args:
            reference: reference model input (usually a DataFrame of training inputs).
            model: the inner model's underlying object (e.g. the sklearn Pipeline), if any.

        Returns:
            The reference features, shape ``(n_rows, n_features)``.
        """
        self.kind_ = self._choose(model, reference)
        self.bind(model)
        self.encoder_ = None
        if self.kind_ == "tabular" or (
            self.kind_ != "function" and (self.feature_types or needs_column_kinds(reference))
        ):
            self.encoder_ = TabularEncoder(self.feature_types).fit(reference)
        if self.kind_ == "numeric":
            if not hasattr(reference, "select_dtypes"):
                raise DataValidationError(
                    "numeric feature extraction needs a DataFrame reference; pass "
                    "preprocess_fn for other inputs"
                )
            numeric = reference.select_dtypes(include=["number", "bool"]).columns
            self.columns_ = [str(c) for c in numeric]
            if not self.columns_:
                raise DataValidationError(
                    "the reference has no numeric columns; for text or other raw inputs pass "
                    "preprocess_fn='package.module:function' or wrap a scikit-learn Pipeline"
                )
        raw = self._raw(reference)
        width = int(raw.shape[1]) if getattr(raw, "ndim", 0) == 2 else 0
        if _is_sparse(raw) or width > self.max_features:
            self._fit_projection(raw)
        features = self._project(raw)
        if self.projection_ is not None:
            self.feature_names_ = [f"component_{i}" for i in range(features.shape[1])]
        elif self.kind_ == "numeric":
            self.feature_names_ = list(self.columns_)
        elif self.kind_ == "tabular":
            assert self.encoder_ is not None
            self.feature_names_ = list(self.encoder_.feature_names_)
        else:
            self.feature_names_ = [f"feature_{i}" for i in range(features.shape[1])]
        return features

    def _fit_projection(self, raw: Any) -> None:
        from sklearn.decomposition import TruncatedSVD

        n_rows, width = raw.shape
        components = max(1, min(self.max_features, width - 1, n_rows - 1))
        svd = TruncatedSVD(n_components=components, random_state=0).fit(raw)
        self.projection_ = np.ascontiguousarray(svd.components_.T, dtype=np.float64)

    def _project(self, raw: Any) -> FloatArray:
        if self.projection_ is not None:
            projected = raw @ self.projection_
            return as_feature_matrix(np.asarray(projected), what="projected features")
        if _is_sparse(raw):
            raw = raw.toarray()
        return as_feature_matrix(raw, what="features")

    def transform(self, data: Any) -> FloatArray:
        """Features of a batch of model input (same extraction as the reference)."""
        if self.kind_ is None:
            raise ConfigError("FeatureExtractor is not fitted; call fit(reference) first")
        return self._project(self._raw(data))

    def save(self, directory: str | Path) -> None:
        """Write ``features.json`` (and ``projection.npz``) into ``directory``."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind_,
            "preprocess_fn": self.preprocess_fn,
            "max_features": self.max_features,
            "columns": self.columns_,
            "feature_names": self.feature_names_,
            "projection": self.projection_ is not None,
            "feature_types": self.feature_types,
        }
        (target / _SPEC_FILE).write_text(json.dumps(spec, indent=2))
        if self.encoder_ is not None:
            (target / _COLUMNS_FILE).write_text(json.dumps(self.encoder_.to_dict()))
        if self.projection_ is not None:
            np.savez(target / _PROJECTION_FILE, components=self.projection_)

    @classmethod
    def load(cls, directory: str | Path, model: Any = None) -> FeatureExtractor:
        """Read what :meth:`save` wrote and bind it to ``model``."""
        source = Path(directory)
        spec = json.loads((source / _SPEC_FILE).read_text())
        extractor = cls(
            spec["kind"],
            spec.get("preprocess_fn"),
            int(spec["max_features"]),
            spec.get("feature_types"),
        )
        extractor.kind_ = spec["kind"]
        extractor.columns_ = list(spec.get("columns") or [])
        extractor.feature_names_ = list(spec.get("feature_names") or [])
        if spec.get("projection"):
            with np.load(source / _PROJECTION_FILE, allow_pickle=False) as archive:
                extractor.projection_ = np.asarray(archive["components"], dtype=np.float64)
        columns = source / _COLUMNS_FILE  # absent from models wrapped before column kinds
        if columns.is_file():
            extractor.encoder_ = TabularEncoder.from_dict(json.loads(columns.read_text()))
        return extractor.bind(model)
