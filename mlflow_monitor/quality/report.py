"""The data quality of one tested window, computed at check time (never on the predict path).

A missing value, a value outside the reference's range, a category the reference never had,
a column that disappeared or appeared, a column whose values no longer read as its kind: each
is counted here and reported, and none of them makes a check fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.tabular import TabularEncoder, column_numbers, column_texts, is_missing
from mlflow_monitor.results import ColumnQuality, DataQualityResult

__all__ = ["fill_missing", "matrix_quality", "tabular_quality"]

# A column whose present values are mostly unreadable as its reference kind changed type.
_TYPE_CHANGE_SHARE = 0.5


def _share(mask: np.ndarray[Any, Any], of: int) -> float:
    return float(mask.sum()) / of if of else 0.0


def _outside(values: FloatArray, low: float, high: float) -> float:
    present = values[np.isfinite(values)]
    if not present.size or not np.isfinite(low):
        return 0.0
    return _share((present < low) | (present > high), present.size)


def matrix_quality(
    reference: FloatArray, batch: FloatArray, names: Sequence[str]
) -> DataQualityResult:
    """Missing and out-of-range shares of numeric feature rows (NaN is missing)."""
    n = int(batch.shape[0])
    columns = []
    for j, name in enumerate(names):
        ref = reference[:, j]
        values = batch[:, j]
        columns.append(
            ColumnQuality(
                name=str(name),
                kind="numeric",
                missing_share=_share(~np.isfinite(values), n),
                reference_missing_share=_share(~np.isfinite(ref), ref.size),
                out_of_range_share=_outside(values, float(np.nanmin(ref)), float(np.nanmax(ref)))
                if np.isfinite(ref).any()
                else None,
            )
        )
    return DataQualityResult(n_rows=n, columns=tuple(columns))


def fill_missing(reference: FloatArray, batch: FloatArray) -> FloatArray:
    """``batch`` with each missing value replaced by its column's reference mean, so the
    drift tests compare the values that are there (the quality result counts the rest)."""
    missing = ~np.isfinite(batch)
    if not missing.any():
        return batch
    means = np.nanmean(np.where(np.isfinite(reference), reference, np.nan), axis=0)
    filled = np.where(missing, np.nan_to_num(means)[np.newaxis, :], batch)
    return np.ascontiguousarray(filled)


def _given_columns(rows: Any, columns: list[str]) -> set[str]:
    """The columns the raw rows carry: a DataFrame's, the keys of row dicts, else all."""
    if hasattr(rows, "columns"):
        return {str(c) for c in rows.columns}
    keys: set[str] = set()
    positional = False
    for row in rows:
        if isinstance(row, Mapping):
            keys.update(str(k) for k in row)
        else:
            positional = True
    return keys | set(columns) if positional else keys


def tabular_quality(encoder: TabularEncoder, rows: Any) -> DataQualityResult:
    """Per-column quality and schema changes of raw rows against ``encoder``'s reference."""
    frame = encoder.frame(rows)
    n = len(frame)
    given = _given_columns(rows, encoder.columns_)
    columns = []
    type_changes: dict[str, str] = {}
    for name in encoder.columns_:
        kind = encoder.kinds_[name]
        series = frame[name]
        absent = np.array([is_missing(v) for v in series.astype(object).tolist()], dtype=bool)
        out_of_range = unseen = None
        missing = absent
        if kind in ("numeric", "datetime"):
            values = column_numbers(series, kind)
            unreadable = ~absent & ~np.isfinite(values)
            if (~absent).any() and _share(unreadable, int((~absent).sum())) > _TYPE_CHANGE_SHARE:
                type_changes[name] = f"{kind} -> text"
            missing = absent | unreadable
            profile = encoder.numbers_[name]
            out_of_range = _outside(values, profile["min"], profile["max"])
        elif kind == "categorical":
            known = set(encoder.categories_[name]["known"])
            present = [v for v in column_texts(series) if v is not None]
            unseen = _share(np.array([v not in known for v in present]), len(present))
        columns.append(
            ColumnQuality(
                name=name,
                kind=kind,
                missing_share=_share(missing, n),
                reference_missing_share=encoder.missing_share_.get(name, 0.0),
                out_of_range_share=out_of_range,
                unseen_share=unseen,
            )
        )
    return DataQualityResult(
        n_rows=n,
        columns=tuple(columns),
        missing_columns=tuple(c for c in encoder.columns_ if c not in given),
        new_columns=tuple(sorted(given - set(encoder.columns_))),
        type_changes=type_changes,
    )
