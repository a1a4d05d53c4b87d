"""Data quality of a drift check's window, per column and for the schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlflow_monitor.results.clock import utcnow
from mlflow_monitor.results.parsing import optional_float

__all__ = ["ColumnQuality", "DataQualityResult"]


@dataclass(frozen=True)
class ColumnQuality:
    """Data quality of one input column in a tested window, against the reference.

    Attributes:
        name: the column.
        kind: ``numeric``, ``categorical``, ``datetime`` or ``text``.
        missing_share: share of the window's values that are missing (None, NaN) or
            unreadable as the column's kind.
        reference_missing_share: the same share in the reference.
        out_of_range_share: numeric and datetime columns: share of present values outside
            the reference's range (None for other kinds).
        unseen_share: categorical columns: share of present values the reference never had
            (None for other kinds).
    """

    name: str
    kind: str
    missing_share: float
    reference_missing_share: float
    out_of_range_share: float | None = None
    unseen_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "out_of_range_share": self.out_of_range_share,
            "unseen_share": self.unseen_share,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnQuality:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            missing_share=float(data["missing_share"]),
            reference_missing_share=float(data.get("reference_missing_share", 0.0)),
            out_of_range_share=optional_float(data.get("out_of_range_share")),
            unseen_share=optional_float(data.get("unseen_share")),
        )


@dataclass(frozen=True)
class DataQualityResult:
    """Data quality of a tested window: per column against the reference, and its schema.

    Attributes:
        n_rows: rows in the window.
        columns: one entry per reference column, in the reference's order.
        missing_columns: reference columns no row of the window has.
        new_columns: columns of the window the reference does not have.
        type_changes: column to ``"<reference kind> -> <kind now>"`` for a column whose
            present values are mostly unreadable as the reference's kind.
        timestamp: when it was computed (UTC).
    """

    n_rows: int
    columns: tuple[ColumnQuality, ...]
    missing_columns: tuple[str, ...] = ()
    new_columns: tuple[str, ...] = ()
    type_changes: dict[str, str] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def schema_changes(self) -> int:
        """Missing columns, new columns and type changes, counted together."""
        return len(self.missing_columns) + len(self.new_columns) + len(self.type_changes)

    @property
    def max_missing_share(self) -> float:
        """The largest missing share of any column (0 without columns)."""
        return max((c.missing_share for c in self.columns), default=0.0)

    @property
    def max_unseen_share(self) -> float:
        """The largest unseen-category share of any categorical column (0 without any)."""
        return max((c.unseen_share or 0.0 for c in self.columns), default=0.0)

    @property
    def max_out_of_range_share(self) -> float:
        """The largest out-of-range share of any numeric or datetime column."""
        return max((c.out_of_range_share or 0.0 for c in self.columns), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "n_rows": self.n_rows,
            "columns": [c.to_dict() for c in self.columns],
            "missing_columns": list(self.missing_columns),
            "new_columns": list(self.new_columns),
            "type_changes": dict(self.type_changes),
            "schema_changes": self.schema_changes,
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataQualityResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            n_rows=int(data["n_rows"]),
            columns=tuple(ColumnQuality.from_dict(c) for c in data["columns"]),
            missing_columns=tuple(str(c) for c in data.get("missing_columns", ())),
            new_columns=tuple(str(c) for c in data.get("new_columns", ())),
            type_changes={str(k): str(v) for k, v in data.get("type_changes", {}).items()},
            timestamp=datetime.fromisoformat(str(data["timestamp"])),
        )
