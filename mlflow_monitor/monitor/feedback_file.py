"""Reading a CSV file of true labels (``prediction_id,true_label``), strictly.

A label given to the wrong prediction is worse than no label: it corrupts the live metrics
without a trace. So the file is read with the standard ``csv`` module in strict mode and every
row must have exactly as many fields as the header; anything else (a row with extra or missing
fields, an unterminated quote, a NUL byte, text that is not UTF-8, an empty file, a missing
column, an empty id) refuses the whole file with a :class:`DataValidationError` that names the
line, before any label is recorded.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from mlflow_monitor._types import Label
from mlflow_monitor.exceptions import DataValidationError

__all__ = ["FEEDBACK_COLUMNS", "parse_label", "read_feedback_csv"]

FEEDBACK_COLUMNS = ("prediction_id", "true_label")
_MAX_FIELD = 1 << 20


def parse_label(text: str) -> Label:
    """A label as typed: an integer (``1``, ``-2``, ``1.0``) becomes an ``int``, anything else
    stays the string it is."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return text
    return int(number) if number.is_integer() else text


def read_feedback_csv(path: str | os.PathLike[str]) -> list[tuple[str, Label]]:
    """The ``(prediction_id, true_label)`` pairs of a CSV file with those two columns.

    Other columns are allowed and ignored; a header must name both.

    Raises:
        DataValidationError: the file cannot be read as that CSV, naming the line and why.
    """
    source = Path(path)
    where = str(source)
    try:
        text = source.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataValidationError(f"{where}: cannot read the file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{where}: not a UTF-8 text file (byte {exc.start} is {exc.object[exc.start]:#04x});"
            " expected a CSV with columns prediction_id,true_label"
        ) from exc
    if not text.strip():
        raise DataValidationError(f"{where}: the file is empty; expected a header line")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataValidationError(f"{where}, line {line}: a NUL byte; is this a binary file?")
    previous_limit = csv.field_size_limit(_MAX_FIELD)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows = list(reader)
    except csv.Error as exc:
        raise DataValidationError(f"{where}, line {reader.line_num}: {exc}") from exc
    finally:
        csv.field_size_limit(previous_limit)
    header = [name.strip() for name in rows[0]]
    missing = [c for c in FEEDBACK_COLUMNS if c not in header]
    if missing:
        raise DataValidationError(
            f"{where}: missing columns {missing} in the header {header!r}; expected "
            "prediction_id,true_label"
        )
    id_at, label_at = (header.index(c) for c in FEEDBACK_COLUMNS)
    pairs: list[tuple[str, Label]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            raise DataValidationError(
                f"{where}, line {line}: {len(row)} fields where the header has {len(header)}; "
                "no label was recorded (quote values that hold a comma)"
            )
        prediction_id, label = row[id_at], row[label_at]
        if not prediction_id.strip() or not label.strip():
            empty = "prediction_id" if not prediction_id.strip() else "true_label"
            raise DataValidationError(f"{where}, line {line}: empty {empty}")
        pairs.append((prediction_id, parse_label(label)))
    if not pairs:
        raise DataValidationError(f"{where}: no labels after the header")
    return pairs
