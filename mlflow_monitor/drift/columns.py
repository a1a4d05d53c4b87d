"""The kind of each input column: numeric, categorical, datetime or text.

:func:`column_kinds` infers them from a reference DataFrame: numbers are ``numeric``; bools,
pandas ``category`` columns and short strings are ``categorical``; datetimes are
``datetime``; strings of several words that rarely repeat are ``text``. A
``feature_types={"col": "categorical"}`` mapping overrides the guess for the columns it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow_monitor.exceptions import ConfigError, DataValidationError

__all__ = ["COLUMN_KINDS", "column_kind", "column_kinds", "needs_column_kinds"]

COLUMN_KINDS = ("numeric", "categorical", "datetime", "text")
# A string column is text when its values average at least this many words and most of them
# differ; a column of short labels ("red", "blue") stays categorical.
_TEXT_WORDS = 3.0
_TEXT_DISTINCT_SHARE = 0.5


def column_kind(series: Any) -> str:
    """The kind of one column (a pandas Series), inferred from its dtype and values."""
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    if types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if types.is_numeric_dtype(dtype):
        return "numeric"
    values = series.dropna()
    if values.empty:
        return "categorical"
    if all(isinstance(v, bool) for v in values):
        return "categorical"
    if all(isinstance(v, int | float) for v in values):
        return "numeric"
    if not all(isinstance(v, str) for v in values):
        return "categorical"  # a mix of types: compared as their text
    words = values.str.split().str.len().mean()
    distinct = values.nunique() / len(values)
    return "text" if words >= _TEXT_WORDS and distinct >= _TEXT_DISTINCT_SHARE else "categorical"


def column_kinds(frame: Any, feature_types: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kind of every column of ``frame``, ``feature_types`` overriding the inference.

    Raises:
        ConfigError: ``feature_types`` names a column the frame lacks or an unknown kind.
        DataValidationError: ``frame`` is not a DataFrame.
    """
    if not hasattr(frame, "columns") or not hasattr(frame, "dtypes"):
        raise DataValidationError(f"column kinds need a DataFrame, got {type(frame).__name__}")
    given = dict(feature_types or {})
    columns = [str(c) for c in frame.columns]
    for name, kind in given.items():
        if name not in columns:
            raise ConfigError(
                f"feature_types names column {name!r}, which the reference lacks "
                f"(columns: {', '.join(columns)})"
            )
        if kind not in COLUMN_KINDS:
            raise ConfigError(
                f"feature_types[{name!r}] must be one of {', '.join(map(repr, COLUMN_KINDS))}, "
                f"got {kind!r}"
            )
    return {str(c): given.get(str(c)) or column_kind(frame[c]) for c in frame.columns}


def needs_column_kinds(reference: Any) -> bool:
    """True for a DataFrame that is not all finite numbers: a column of another kind, or a
    missing value (such a reference is tested column by column, by kind)."""
    if not hasattr(reference, "columns") or not hasattr(reference, "dtypes"):
        return False
    from pandas.api import types

    for name in reference.columns:
        if not types.is_numeric_dtype(reference[name].dtype):  # bools are numbers here
            return True
    return bool(reference.isna().to_numpy().any())
