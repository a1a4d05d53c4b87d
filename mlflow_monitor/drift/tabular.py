"""Mixed tabular input: what drift checks keep of a reference DataFrame, and how they read
tested rows of numeric, categorical, datetime and text columns with missing values.

A :class:`TabularEncoder` is fitted on the reference. It infers each column's kind
(:mod:`~mlflow_monitor.drift.columns`, overridable with ``feature_types``), keeps a profile
of each column (a sample of its values, its categories, its range, its share of missing
values, its text vocabulary), and then, for a batch of raw rows:

- :meth:`~TabularEncoder.transform` gives the numeric encoding the multivariate test reads:
  numbers standardised with a missing-value indicator when the reference had missing values,
  categories one-hot (the ``max_categories`` most frequent kept, the rest and unseen ones in
  ``<other>``), datetimes as standardised seconds, text as its standardised descriptors;
- :meth:`~TabularEncoder.column_tests` tests each input column by its kind
  (:mod:`~mlflow_monitor.drift.column_tests`), named after the column: ``price``,
  ``color``, ``review.text.length``, ``review.text.words``, ``review.text.oov_share``,
  ``review.text.non_letter_share``.

Nothing a batch holds makes it fail: a missing value, a new category, a number where a
category was, a column the reference lacks. Missing and unreadable values are left out of
the tests and counted by the data quality result instead. The encoder is saved as JSON
(:meth:`~TabularEncoder.to_dict`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.drift.column_tests import OTHER, category_test, number_test, token_changes
from mlflow_monitor.drift.columns import column_kinds
from mlflow_monitor.drift.univariate import adjust_p_values
from mlflow_monitor.exceptions import ConfigError, DataValidationError, NotFittedError
from mlflow_monitor.results import FeatureDrift

__all__ = ["TEXT_DESCRIPTORS", "TabularEncoder", "column_numbers", "column_texts", "is_missing"]

TEXT_DESCRIPTORS = ("length", "words", "oov_share", "non_letter_share")
_LETTER_OR_SPACE = re.compile(r"[^\W\d_]|\s")
_VOCABULARY_SIZE = 20_000
_TOKEN_SHARES = 500


def _rows_frame(data: Any, columns: list[str]) -> Any:
    """Raw rows as a DataFrame: a DataFrame, row dicts, value lists or an object matrix."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    rows = list(data)
    if rows and all(isinstance(r, Mapping) for r in rows):
        return pd.DataFrame.from_records(rows)
    # value lists in the reference's column order (a dict among them is read by name)
    fixed = [
        [r.get(c) for c in columns] if isinstance(r, Mapping) else list(np.ravel(r, order="C"))
        for r in rows
    ]
    width = len(columns)
    fixed = [(r + [None] * width)[:width] for r in fixed]
    return pd.DataFrame(fixed, columns=columns)


def column_numbers(series: Any, kind: str) -> FloatArray:
    """A column as floats, NaN where missing or unreadable (datetimes as epoch seconds)."""
    import pandas as pd

    if kind == "datetime":
        stamps = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
        seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return np.asarray(seconds, dtype=np.float64)  # NaN where missing
    numbers = pd.to_numeric(series.astype(object).where(series.notna(), None), errors="coerce")
    return np.asarray(numbers, dtype=np.float64)


def column_texts(series: Any) -> list[str | None]:
    """A column as text, None where missing (bools and numbers as their text; a whole float
    as its integer, so ``3.0`` read back from JSON is the category ``3``)."""
    return [_text_of(v) for v in series.astype(object).tolist()]


def _text_of(value: Any) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA (a scalar; a list or dict value is not missing)."""
    import pandas as pd

    if value is None:
        return True
    if isinstance(value, list | tuple | dict | set | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _descriptors(texts: list[str | None], vocabulary: set[str]) -> dict[str, FloatArray]:
    """The text descriptors of each value, NaN for missing text."""
    n = len(texts)
    out = {name: np.full(n, np.nan) for name in TEXT_DESCRIPTORS}
    for i, text in enumerate(texts):
        if text is None:
            continue
        words = text.lower().split()
        out["length"][i] = len(text)
        out["words"][i] = len(words)
        out["oov_share"][i] = (
            sum(w not in vocabulary for w in words) / len(words) if words and vocabulary else 0.0
        )
        out["non_letter_share"][i] = (
            sum(not _LETTER_OR_SPACE.match(ch) for ch in text) / len(text) if text else 0.0
        )
    return out


def _summary(values: FloatArray, sample: int, rng: np.random.Generator) -> dict[str, Any]:
    present = values[np.isfinite(values)]
    if present.size > sample:
        present = rng.choice(present, sample, replace=False)
    mean = float(present.mean()) if present.size else 0.0
    std = float(present.std()) if present.size else 0.0
    return {
        "mean": mean,
        "std": std if std > 0 else 1.0,
        "min": float(present.min()) if present.size else math.nan,
        "max": float(present.max()) if present.size else math.nan,
        "values": sorted(present.tolist()),
    }


class TabularEncoder:
    """Column kinds, a numeric encoding and per-column tests for mixed tabular input.

    Args:
        feature_types: column name to kind (``numeric``, ``categorical``, ``datetime``,
            ``text``), overriding the inferred kind of the columns it names.
        max_categories: categories kept per column; rarer ones are pooled in ``<other>``, so
            an ID-like column cannot make the encoding or the test huge.
        max_reference_values: reference values kept per numeric column for its test.
    """

    def __init__(
        self,
        feature_types: Mapping[str, str] | None = None,
        max_categories: int = 20,
        max_reference_values: int = 5000,
    ) -> None:
        if isinstance(max_categories, bool) or not isinstance(max_categories, int):
            raise ConfigError(f"max_categories must be an integer >= 1, got {max_categories!r}")
        if max_categories < 1:
            raise ConfigError(f"max_categories must be an integer >= 1, got {max_categories!r}")
        self.feature_types = dict(feature_types or {})
        self.max_categories = max_categories
        self.max_reference_values = max_reference_values
        self.columns_: list[str] = []
        self.kinds_: dict[str, str] = {}
        self.dtypes_: dict[str, str] = {}
        self.missing_share_: dict[str, float] = {}
        self.numbers_: dict[str, dict[str, Any]] = {}
        self.categories_: dict[str, dict[str, Any]] = {}
        self.texts_: dict[str, dict[str, Any]] = {}
        self.feature_names_: list[str] = []

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` has seen a reference."""
        return bool(self.columns_)

    # -- fitting -------------------------------------------------------------------------

    def fit(self, reference: Any) -> TabularEncoder:
        """Learn the columns, their kinds and profiles from a reference DataFrame.

        Raises:
            DataValidationError: not a DataFrame, or fewer than 2 rows.
            ConfigError: ``feature_types`` names an unknown column or kind.
        """
        kinds = column_kinds(reference, self.feature_types)
        if len(reference) < 2:
            raise DataValidationError(f"reference must have at least 2 rows, got {len(reference)}")
        rng = np.random.default_rng(0)
        frame = reference.copy()
        frame.columns = [str(c) for c in frame.columns]
        self.columns_ = list(frame.columns)
        self.kinds_ = kinds
        self.dtypes_ = {c: str(frame[c].dtype) for c in self.columns_}
        self.missing_share_ = {c: float(frame[c].isna().mean()) for c in self.columns_}
        self.numbers_, self.categories_, self.texts_ = {}, {}, {}
        for column, kind in kinds.items():
            series = frame[column]
            if kind in ("numeric", "datetime"):
                values = column_numbers(series, kind)
                self.numbers_[column] = _summary(values, self.max_reference_values, rng)
            elif kind == "categorical":
                counts = Counter(v for v in column_texts(series) if v is not None)
                kept = dict(counts.most_common(self.max_categories))
                rest = sum(counts.values()) - sum(kept.values())
                if rest:
                    kept[OTHER] = rest
                self.categories_[column] = {
                    "counts": kept,
                    "known": sorted(counts)[: self.max_reference_values * 2],
                }
            else:
                texts = column_texts(series)
                tokens: Counter[str] = Counter()
                for text in texts:
                    if text:
                        tokens.update(text.lower().split())
                vocabulary = {t for t, _ in tokens.most_common(_VOCABULARY_SIZE)}
                described = _descriptors(texts, vocabulary)
                total = sum(tokens.values()) or 1
                self.texts_[column] = {
                    "vocabulary": sorted(vocabulary),
                    "token_shares": {t: n / total for t, n in tokens.most_common(_TOKEN_SHARES)},
                    "descriptors": {
                        name: _summary(described[name], self.max_reference_values, rng)
                        for name in TEXT_DESCRIPTORS
                    },
                }
        self.feature_names_ = self._encoded_names()
        self._vocabularies = {c: set(t["vocabulary"]) for c, t in self.texts_.items()}
        return self

    def _encoded_names(self) -> list[str]:
        names: list[str] = []
        for column in self.columns_:
            kind = self.kinds_[column]
            if kind in ("numeric", "datetime"):
                names.append(column)
                if self.missing_share_[column] > 0:
                    names.append(f"{column}.missing")
            elif kind == "categorical":
                counts = self.categories_[column]["counts"]
                names += [f"{column}={c}" for c in counts]
                if OTHER not in counts:
                    names.append(f"{column}={OTHER}")
            else:
                names += [f"{column}.text.{d}" for d in TEXT_DESCRIPTORS]
        return names

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("TabularEncoder is not fitted; call fit(reference) first")

    # -- reading batches -----------------------------------------------------------------

    def frame(self, data: Any) -> Any:
        """Raw rows as a DataFrame with at least the reference's columns (missing ones all
        None)."""
        self._check_fitted()
        frame = _rows_frame(data, self.columns_).copy()
        frame.columns = [str(c) for c in frame.columns]
        for column in self.columns_:
            if column not in frame.columns:
                frame[column] = None
        return frame

    def _vocabulary(self, column: str) -> set[str]:
        cached = getattr(self, "_vocabularies", None)
        if cached is None:
            cached = self._vocabularies = {c: set(t["vocabulary"]) for c, t in self.texts_.items()}
        return cached.get(column, set())

    def transform(self, data: Any) -> FloatArray:
        """The numeric encoding of raw rows (a DataFrame, row dicts or value lists).

        Returns:
            A finite float64 matrix, one row per input row, :attr:`feature_names_` wide.
        """
        frame = self.frame(data)
        parts: list[FloatArray] = []
        for column in self.columns_:
            kind, series = self.kinds_[column], frame[column]
            if kind in ("numeric", "datetime"):
                summary = self.numbers_[column]
                values = column_numbers(series, kind)
                missing = ~np.isfinite(values)
                parts.append(np.where(missing, 0.0, (values - summary["mean"]) / summary["std"]))
                if self.missing_share_[column] > 0:
                    parts.append(missing.astype(np.float64))
            elif kind == "categorical":
                counts = self.categories_[column]["counts"]
                slots = {c: i for i, c in enumerate(counts)}
                other = slots.get(OTHER, len(slots))
                width = len(slots) + (OTHER not in slots)
                block = np.zeros((len(frame), width))
                for i, value in enumerate(column_texts(series)):
                    if value is not None:
                        block[i, slots.get(value, other)] = math.sqrt(0.5)
                parts.extend(block.T)
            else:
                described = _descriptors(column_texts(series), self._vocabulary(column))
                for name in TEXT_DESCRIPTORS:
                    summary = self.texts_[column]["descriptors"][name]
                    values = described[name]
                    scaled = (values - summary["mean"]) / summary["std"]
                    parts.append(np.where(np.isfinite(values), scaled, 0.0))
        return np.ascontiguousarray(np.column_stack(parts), dtype=np.float64)

    def column_tests(self, data: Any, p_val: float, correction: str) -> tuple[FeatureDrift, ...]:
        """Test each input column of raw rows against the reference, by kind.

        Returns:
            One result per numeric, datetime or categorical column and per text
            descriptor, in column order, the p-values corrected together.
        """
        frame = self.frame(data)
        found: list[dict[str, Any]] = []
        for column in self.columns_:
            kind, series = self.kinds_[column], frame[column]
            if kind in ("numeric", "datetime"):
                reference = np.asarray(self.numbers_[column]["values"], dtype=np.float64)
                test = number_test(reference, column_numbers(series, kind))
                found.append(
                    {
                        "name": column,
                        "kind": kind,
                        "test": "ks",
                        "stat": test.statistic,
                        "p": test.p_value,
                        "effect": test.effect_size,
                        "effect_name": "wasserstein/std",
                    }
                )
            elif kind == "categorical":
                profile = self.categories_[column]
                result = category_test(
                    profile["counts"], set(profile["known"]), column_texts(series)
                )
                found.append(
                    {
                        "name": column,
                        "kind": kind,
                        "test": "chi2",
                        "stat": result.statistic,
                        "p": result.p_value,
                        "effect": result.effect_size,
                        "effect_name": "jensen_shannon",
                        "unseen": result.unseen_share,
                    }
                )
            else:
                texts = column_texts(series)
                described = _descriptors(texts, self._vocabulary(column))
                tokens = token_changes(self.texts_[column]["token_shares"], texts)
                for name in TEXT_DESCRIPTORS:
                    summary = self.texts_[column]["descriptors"][name]
                    reference = np.asarray(summary["values"], dtype=np.float64)
                    test = number_test(reference, described[name])
                    found.append(
                        {
                            "name": f"{column}.text.{name}",
                            "kind": "text",
                            "test": "ks",
                            "stat": test.statistic,
                            "p": test.p_value,
                            "effect": test.effect_size,
                            "effect_name": "wasserstein/std",
                            "tokens": tokens if name == "oov_share" else {},
                        }
                    )
        adjusted = adjust_p_values(np.array([f["p"] for f in found]), correction)
        return tuple(
            FeatureDrift(
                name=f["name"],
                statistic=float(f["stat"]),
                p_value=float(f["p"]),
                adjusted_p_value=float(adj),
                drift_detected=bool(adj < p_val),
                kind=f["kind"],
                test=f["test"],
                # the effect the alarm weighs (drift_min_effect): in reference standard
                # deviations for numbers, dates and text descriptors, the Jensen-Shannon
                # distance for categories
                effect=float(f["effect"]),
                effect_size=float(f["effect"]),
                effect_size_name=f["effect_name"],
                unseen_share=f.get("unseen"),
                changed_tokens=f.get("tokens", {}),
            )
            for f, adj in zip(found, adjusted, strict=True)
        )

    # -- saving --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fitted encoder as JSON-serialisable values (no code)."""
        self._check_fitted()
        return {
            "feature_types": self.feature_types,
            "max_categories": self.max_categories,
            "max_reference_values": self.max_reference_values,
            "columns": self.columns_,
            "kinds": self.kinds_,
            "dtypes": self.dtypes_,
            "missing_share": self.missing_share_,
            "numbers": self.numbers_,
            "categories": self.categories_,
            "texts": self.texts_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TabularEncoder:
        """Inverse of :meth:`to_dict`."""
        encoder = cls(
            data.get("feature_types"),
            int(data.get("max_categories", 20)),
            int(data.get("max_reference_values", 5000)),
        )
        encoder.columns_ = [str(c) for c in data["columns"]]
        encoder.kinds_ = {str(k): str(v) for k, v in data["kinds"].items()}
        encoder.dtypes_ = {str(k): str(v) for k, v in data.get("dtypes", {}).items()}
        encoder.missing_share_ = {str(k): float(v) for k, v in data["missing_share"].items()}
        encoder.numbers_ = dict(data.get("numbers", {}))
        encoder.categories_ = dict(data.get("categories", {}))
        encoder.texts_ = dict(data.get("texts", {}))
        encoder.feature_names_ = encoder._encoded_names()
        return encoder
