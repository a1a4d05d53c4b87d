"""Data quality: missing values, out-of-range values, unseen categories and schema changes of
a tested window, column by column against the reference.

:func:`~mlflow_monitor.quality.report.matrix_quality` reads numeric feature rows,
:func:`~mlflow_monitor.quality.report.tabular_quality` raw rows of mixed kinds; both return a
:class:`~mlflow_monitor.results.DataQualityResult`.
"""

from __future__ import annotations

from mlflow_monitor.quality.report import fill_missing, matrix_quality, tabular_quality

__all__ = ["fill_missing", "matrix_quality", "tabular_quality"]
