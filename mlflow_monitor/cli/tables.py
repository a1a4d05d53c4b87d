"""Tables and progress lines of the ``mlflow-monitor`` command, for people.

Tables are drawn with rich and fit the terminal's width (``COLUMNS`` when set): long cells wrap
or end in an ellipsis rather than pushing the table wider. Whole numbers print as integers,
other numbers with three significant decimals, missing values as an en dash. Only the CLI imports
this module (rich loads with it, not with ``import mlflow_monitor``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = [
    "baselines_stacked",
    "baselines_table",
    "cell",
    "checks_table",
    "print_table",
    "print_wide_or_stacked",
    "progress",
    "status_table",
]

MISSING = "\u2013"
_FOUND, _FINE = "\u2717", "\u2713"


def cell(value: Any) -> str:
    """One value as a table shows it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.3g}" if abs(value) < 1e-3 else f"{value:.3f}"
    text = str(value)
    return text if text else MISSING


def _console(stream: Any = None) -> Console:
    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    return Console(file=stream or sys.stdout, width=width, soft_wrap=False, highlight=False)


def print_table(table: Table, stream: Any = None) -> None:
    """Print ``table`` at the terminal's width."""
    _console(stream).print(table)


def print_wide_or_stacked(wide: Table, stacked: Sequence[Table], stream: Any = None) -> None:
    """Print ``wide`` when it fits the terminal, else the ``stacked`` tables one after the
    other (one record each), so no column is cut."""
    console = _console(stream)
    unbounded = console.options.update_width(100_000)  # measure() clamps to the width it gets
    if console.measure(wide, options=unbounded).maximum <= console.width:
        console.print(wide)
        return
    for table in stacked:
        console.print(table)


def _table(title: str | None = None, header: bool = True) -> Table:
    return Table(
        title=title,
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        expand=False,
        show_header=header,
    )


def baselines_table(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> Table:
    """The versions of a model: baseline → live per metric, window, drift, origin."""
    table = _table()
    table.caption = "metric cells: baseline → live (latest performance check)"
    table.caption_justify = "left"
    with_aliases = any(row.get("aliases") for row in rows)
    table.add_column("version", justify="right", no_wrap=True)
    if with_aliases:
        table.add_column("aliases", overflow="fold")
    for metric in metrics:
        table.add_column(metric, justify="right", min_width=11, overflow="fold")
    table.add_column("window", justify="right", no_wrap=True)
    table.add_column("drift p", justify="right", no_wrap=True)
    table.add_column("last check (UTC)", min_width=11, overflow="fold")
    table.add_column("made by", overflow="fold")
    for row in rows:
        pairs = [f"{cell(row.get(f'baseline_{m}'))}→{cell(row.get(f'live_{m}'))}" for m in metrics]
        detected = row.get("drift_detected")
        mark = "" if detected is None else f" {_FOUND if detected else _FINE}"
        last = row.get("last_check")
        made_by = row.get("created_by") or MISSING
        if row.get("trigger_reason"):
            made_by = f"{made_by} ({row['trigger_reason']})"
        table.add_row(
            cell(row.get("version")),
            *([cell(row.get("aliases"))] if with_aliases else []),
            *pairs,
            cell(row.get("live_window")),
            cell(row.get("drift_p_value")) + mark,
            MISSING if not last else str(last)[5:16].replace("T", " "),
            made_by,
        )
    return table


def baselines_stacked(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> list[Table]:
    """The versions of a model as one small table each, for a narrow terminal."""
    tables = []
    for row in rows:
        table = _table(title=f"version {cell(row.get('version'))}", header=False)
        table.add_column("", no_wrap=True, style="bold")
        table.add_column("", overflow="fold")
        if row.get("aliases"):
            table.add_row("aliases", cell(row.get("aliases")))
        for m in metrics:
            live = cell(row.get(f"live_{m}"))
            table.add_row(m, f"baseline {cell(row.get(f'baseline_{m}'))}, live {live}")
        table.add_row("live window", cell(row.get("live_window")))
        detected = row.get("drift_detected")
        verdict = "" if detected is None else (" (drift)" if detected else " (no drift)")
        table.add_row("drift p", cell(row.get("drift_p_value")) + verdict)
        last = row.get("last_check")
        table.add_row(
            "last check", MISSING if not last else str(last)[:16].replace("T", " ") + " UTC"
        )
        made_by = row.get("created_by") or MISSING
        if row.get("trigger_reason"):
            made_by = f"{made_by} ({row['trigger_reason']})"
        table.add_row("made by", made_by)
        tables.append(table)
    return tables


def checks_table(results: Sequence[Any]) -> Table:
    """Checks that just ran: kind, outcome, the numbers behind it, retraining."""
    table = _table()
    table.add_column("check", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("details", overflow="fold")
    table.add_column("retraining", no_wrap=True)
    for result in results:
        if result.drift is not None:
            d = result.drift
            detail = f"p={d.p_value:.4g}, {d.n_test} rows, effect {d.effect_size:.2f} SD"
            if d.alarm is not None:
                detail += (
                    "; ALARM"
                    if d.alarm.fired
                    else f"; evidence {d.alarm.statistic:.2f}/{d.alarm.threshold:.2f}"
                )
            if d.drifted_features:
                detail += f"; drifted: {', '.join(d.drifted_features[:5])}"
                if len(d.drifted_features) > 5:
                    detail += f" (+{len(d.drifted_features) - 5})"
        elif result.performance is not None and result.ran:
            p = result.performance
            if p.n_samples:
                detail = ", ".join(f"{k} {cell(v)}" for k, v in p.metrics.items())
                detail += f" over {p.n_samples} labels"
                if p.estimated is not None and p.estimated.decides:
                    detail += " (of older predictions than the estimated ones)"
            else:
                detail = "no labels yet"
        else:
            detail = result.reason or ""
        outcome = (
            result.status
            if not result.ran
            else (f"{_FINE} ok" if result.status == "ok" else f"{_FOUND} {result.status}")
        )
        table.add_row(result.kind, outcome, detail, "triggered" if result.triggered else "")
        estimate = result.performance.estimated if result.performance is not None else None
        if estimate is not None and result.ran:
            mark = f"{_FOUND} degraded" if estimate.degraded else f"{_FINE} ok"
            table.add_row("  estimated", mark, _estimate_detail(estimate), "")
    return table


def _estimate_detail(estimate: Any) -> str:
    """An estimate's metrics with their intervals, what it covered, and its error."""
    parts = []
    for name, value in estimate.metrics.items():
        low, high = estimate.intervals.get(name, (value, value))
        parts.append(f"{name} {cell(value)} ({cell(low)}-{cell(high)})")
    labelled = estimate.labelled_in_window
    covered = f", {labelled} labelled" if labelled is not None else ""
    detail = ", ".join(parts) + f" over {estimate.n_samples} predictions{covered}"
    if estimate.realized_error:
        errors = ", ".join(f"{k} {v:+.3f}" for k, v in estimate.realized_error.items())
        detail += f"; estimated - realized: {errors}"
    if estimate.decides:
        detail += "; decides the verdict"
    return detail


def status_table(status: Mapping[str, Any]) -> Table:
    """The monitoring status, one fact per row."""
    table = _table(header=False)
    table.add_column("", no_wrap=True, style="bold")
    table.add_column("", overflow="fold")
    counts, store = status.get("counts", {}), status.get("store", {})
    drift = status.get("drift", {}).get("last_check") or {}
    perf = status.get("performance", {})
    rows: list[tuple[str, str]] = [
        ("model", f"{store.get('model_name', MISSING)} v{store.get('model_version', MISSING)}"),
        ("predictions", f"{cell(store.get('predictions'))} in the store"),
        ("labels", f"{cell(store.get('labels'))} in the store"),
        ("drift rows pending", cell(counts.get("pending_drift_rows"))),
        ("reference rows", cell(status.get("drift", {}).get("reference_size"))),
    ]
    if drift.get("drift"):
        d = drift["drift"]
        verdict = "drift" if d.get("drift_detected") else "no drift"
        when = str(drift.get("timestamp", ""))[:16].replace("T", " ")
        rows.append(("last drift check", f"{verdict}, p={cell(d.get('p_value'))} ({when} UTC)"))
        alarm = d.get("alarm") or {}
        if alarm:
            rows.append(("drift alarm", str(alarm.get("reason", MISSING))))
    else:
        rows.append(("last drift check", MISSING))
    last_perf = perf.get("last_check") or {}
    snapshot = last_perf.get("performance") or {}
    if snapshot:
        names = list(snapshot.get("baseline") or ("precision", "recall", "accuracy", "f1_score"))
        shown = [k for k in names if isinstance(snapshot.get(k), int | float)]
        metrics = ", ".join(f"{k} {cell(snapshot[k])}" for k in shown)
        rows.append(("last performance check", f"{last_perf.get('status')}: {metrics}"))
    else:
        rows.append(("last performance check", MISSING))
    triggers = status.get("triggers", {})
    rows.append(("retraining triggers", cell(triggers.get("total"))))
    for event in (triggers.get("history") or [])[-3:]:
        when = str(event.get("timestamp", ""))[:16].replace("T", " ")
        rows.append(("", f"{when} UTC  {event.get('reason', '')}"))
    if status.get("errors"):
        for kind, error in status["errors"].items():
            rows.append((f"{kind} error", str(error)))
    for name, value in rows:
        table.add_row(name, value)
    return table


@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[None]:
    """Show the library's progress messages (its INFO log lines) on stderr while a long
    command runs."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("mlflow_monitor")
    previous = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
