"""The files ``mlflow-monitor`` commands read and write, with errors that name the file.

Commands read a JSON file of monitor options and a one-column file of true labels, and write
generated text (a report, a dashboard, alerting rules) to a file or, for ``-``, to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlflow_monitor.cli.exit_codes import MonitorClickError

__all__ = ["read_config", "read_labels", "write_output"]


def read_config(path: str | None) -> dict[str, Any] | None:
    """The monitor options of a JSON file, or None without one."""
    if not path:
        return None
    try:
        config: dict[str, Any] = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise MonitorClickError(f"config file {path!r} is not JSON: {exc}") from exc
    return config


def read_labels(path: str) -> list[Any]:
    """The one column of a CSV or parquet labels file."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # pandas and pyarrow raise many kinds for a bad file
        raise MonitorClickError(f"cannot read the labels file {path!r}: {exc}") from exc
    if frame.shape[1] != 1:
        raise MonitorClickError(
            f"the labels file {path!r} must have one column, it has {frame.shape[1]}"
        )
    return list(frame.iloc[:, 0])


def write_output(text: str, output: str) -> None:
    """Write generated text to ``output``, or to stdout for ``-``."""
    if output == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MonitorClickError(f"cannot write {output!r}: {exc}") from exc
    click.echo(f"wrote {output}", err=True)
