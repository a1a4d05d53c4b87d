"""The check report: one self-contained HTML page per check, for a person to read.

Every check run holds it as ``report.html`` (MLflow's artifact viewer shows it inline), and
``mlflow-monitor report`` writes it to a file. The page has inline CSS and inline SVG charts
only: no script, font, stylesheet or image is fetched from anywhere.

It reads top to bottom as a person asks: the verdict and why (what was tested, what
triggered, how many columns drifted); then the drifted columns with their reference and
current distributions, drifted ones marked; the performance against the baseline with the
differences; and a timeline of recent checks on calendar time, with the threshold and the
findings marked.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC

import numpy as np

from mlflow_monitor._version import __version__
from mlflow_monitor.results import (
    CheckResult,
    DataQualityResult,
    DriftResult,
    FeatureDrift,
    PerformanceSnapshot,
    PredictionDrift,
)
from mlflow_monitor.tracking.svg import (
    CURRENT_COLOUR,
    FOUND_COLOUR,
    OK_COLOUR,
    REFERENCE_COLOUR,
    TimelinePoint,
    histogram_pair,
    timeline,
)

__all__ = ["render_report"]

Samples = Mapping[str, tuple[Sequence[float], Sequence[float]]]

_STYLE = f"""
body {{ font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #263238; margin: 24px; max-width: 1040px; line-height: 1.45; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e0e4e8; padding-bottom: 4px; }}
.meta {{ color: #607d8b; font-size: 13px; }}
.verdict {{ display: inline-block; padding: 3px 10px; border-radius: 12px; color: white;
  font-weight: 600; font-size: 13px; vertical-align: middle; margin-left: 8px; }}
.found {{ background: {FOUND_COLOUR}; }} .fine {{ background: {OK_COLOUR}; }}
.skipped {{ background: #78909c; }}
.summary {{ background: #f5f7f9; border-left: 4px solid #90a4ae; padding: 10px 16px; }}
.summary.found-box {{ border-left-color: {FOUND_COLOUR}; }}
.summary.fine-box {{ border-left-color: {OK_COLOUR}; }}
.summary li {{ margin: 3px 0; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 6px 0; }}
th, td {{ padding: 4px 10px; text-align: right; border-bottom: 1px solid #eceff1; }}
th {{ background: #f5f7f9; font-weight: 600; }}
td.name, th.name {{ text-align: left; }}
tr.drifted td {{ background: #fdecea; }}
.mark {{ font-weight: 700; }}
.mark.bad {{ color: {FOUND_COLOUR}; }} .mark.good {{ color: {OK_COLOUR}; }}
.cols {{ display: flex; flex-wrap: wrap; gap: 14px; }}
.col {{ border: 1px solid #e0e4e8; border-radius: 6px; padding: 8px; }}
.col.drifted {{ border-color: {FOUND_COLOUR}; }}
.col h3 {{ font-size: 13px; margin: 0 0 4px; }}
.legend span {{ display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }}
.note {{ color: #607d8b; font-size: 12px; }}
footer {{ margin-top: 32px; color: #90a4ae; font-size: 12px; }}
"""

_NONE = "\u2013"  # an en dash stands for "no value"
_DRIFTED = ' <span class="mark bad">✗ drifted</span>'
_MAX_TABLE_ROWS = 30  # columns listed in the drift table (most drifted first)


def _e(value: object) -> str:
    return html.escape(str(value))


def _num(value: float) -> str:
    if math.isnan(value):
        return _NONE
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value)}"
    if abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _ranked(features: Sequence[FeatureDrift]) -> list[FeatureDrift]:
    return sorted(features, key=lambda f: (not f.drift_detected, -f.statistic, f.name))


# -- sections ----------------------------------------------------------------------------


def _summary_items(result: CheckResult) -> list[str]:
    items: list[str] = []
    if not result.ran:
        items.append(f"The check was skipped: {_e(result.reason or 'no reason given')}.")
        return items
    drift, perf = result.drift, result.performance
    if drift is not None:
        verb = "is below" if drift.drift_detected else "is not below"
        mmd = "" if drift.mmd_p_value is None else f"MMD² p = {_num(drift.mmd_p_value)}, "
        items.append(
            f"This window: p = {_num(drift.p_value)} over all tests ({mmd}"
            f"{_e(drift.backend)}; per-column tests corrected), which {verb} the significance "
            f"level {_num(drift.p_val)}: "
            f"<b>{'drift detected' if drift.drift_detected else 'no drift detected'}</b>; "
            f"largest column effect {_num(drift.effect_size)} reference SDs."
        )
        if drift.alarm is not None:
            alarm = drift.alarm
            items.append(
                f"<b>{'Drift alarm fired' if alarm.fired else 'No drift alarm'}</b>: "
                f"{_e(alarm.reason)}."
            )
        if drift.alarm_fired and drift.attribution:
            items.append(
                "Driven by: "
                + ", ".join(
                    f"{_e(a.name)} ({100 * a.share:.0f}%, effect {_num(a.effect)})"
                    for a in drift.attribution[:5]
                )
                + "."
            )
        drifted = [f.name for f in drift.features if f.drift_detected]
        items.append(
            f"<b>{len(drifted)} of {len(drift.features)} columns drifted</b> (per-column "
            f"Kolmogorov-Smirnov tests, {_e(drift.correction)}-corrected)"
            + (": " + ", ".join(_e(n) for n in drifted[:10]) if drifted else "")
            + ("…" if len(drifted) > 10 else "")
            + "."
        )
        items.append(
            f"Compared {drift.n_test} recent rows with {drift.n_reference} reference rows; "
            f"distance MMD² = {_num(drift.distance)} (significant above "
            f"{_num(drift.distance_threshold)})."
        )
    if perf is not None:
        if perf.degraded:
            worst = ", ".join(
                f"{_e(k)} {100 * v:.1f}% below its baseline"
                for k, v in sorted(perf.degraded_metrics.items(), key=lambda kv: -kv[1])
            )
            items.append(f"<b>Performance degraded</b>: {worst}.")
        else:
            items.append(
                f"Performance is within {100 * perf.threshold:.0f}% of its baseline on every "
                "metric."
            )
        items.append(f"Measured over the latest {perf.n_samples} labelled predictions.")
    items.append(
        "Retraining was <b>triggered</b>."
        if result.triggered
        else "No retraining was triggered by this check."
    )
    return items


def _drift_section(drift: DriftResult, samples: Samples) -> str:
    rows = []
    all_ks = all(f.test == "ks" for f in drift.features)
    with_effect = any(f.effect_size is not None for f in drift.features)
    for feature in _ranked(drift.features)[:_MAX_TABLE_ROWS]:
        mark = _DRIFTED if feature.drift_detected else '<span class="mark good">✓</span>'
        test = "" if all_ks else f" ({_e(feature.test)})"
        effect = ""
        if with_effect:
            size = _NONE if feature.effect_size is None else _num(feature.effect_size)
            unseen = f", {feature.unseen_share:.1%} unseen" if feature.unseen_share else ""
            effect = f"<td>{size} {_e(feature.effect_size_name or '')}{unseen}</td>"
        rows.append(
            f'<tr class="{"drifted" if feature.drift_detected else ""}">'
            f'<td class="name">{_e(feature.name)}</td><td>{_num(feature.statistic)}{test}</td>'
            f"<td>{_num(feature.p_value)}</td><td>{_num(feature.adjusted_p_value)}</td>"
            f"{effect}<td>{mark}</td></tr>"
        )
    more = len(drift.features) - _MAX_TABLE_ROWS
    statistic = "KS statistic" if all_ks else "statistic (test)"
    effect_header = "<th>effect size</th>" if with_effect else ""
    table = (
        f'<table><tr><th class="name">column</th><th>{statistic}</th><th>p-value (raw)</th>'
        f"<th>p-value ({_e(drift.correction)})</th>{effect_header}<th>verdict</th></tr>"
        + "".join(rows)
        + "</table>"
        + (
            f'<p class="note">…and {more} more columns in feature_drift.csv.</p>'
            if more > 0
            else ""
        )
    )
    by_name = {f.name: f for f in drift.features}
    charts = []
    for name, (reference, current) in samples.items():
        shown = by_name.get(name)
        drifted = shown is not None and shown.drift_detected
        caption = (
            f"KS {_num(shown.statistic)}, adjusted p {_num(shown.adjusted_p_value)}"
            if shown is not None
            else ""
        )
        charts.append(
            f'<div class="col{" drifted" if drifted else ""}"><h3>{_e(name)}'
            f"{_DRIFTED if drifted else ''}</h3>"
            f"{histogram_pair(reference, current, title=name)}"
            f'<div class="note">{caption}</div></div>'
        )
    legend = (
        f'<p class="legend note">Distributions:<span style="background:{REFERENCE_COLOUR}"></span>'
        f'reference<span style="background:{CURRENT_COLOUR}"></span>current window</p>'
    )
    body = table
    if charts:
        body += legend + '<div class="cols">' + "".join(charts) + "</div>"
    return "<h2>Columns</h2>" + body


def _prediction_section(result: PredictionDrift) -> str:
    rows = "".join(
        f'<tr class="{"drifted" if o.drift_detected else ""}"><td class="name">{_e(o.name)}</td>'
        f"<td>{_e(o.test)}</td><td>{_num(o.statistic)}</td><td>{_num(o.adjusted_p_value)}</td>"
        f"<td>{_NONE if o.effect_size is None else _num(o.effect_size)}</td>"
        f"<td>{_DRIFTED if o.drift_detected else ''}</td></tr>"
        for o in result.outputs
    )
    return (
        "<h2>Prediction drift</h2>"
        f'<p class="note">The model\'s latest {result.n_test} outputs against its '
        f"{result.n_reference} outputs on the reference.</p>"
        '<table><tr><th class="name">output</th><th>test</th><th>statistic</th>'
        "<th>p-value (corrected)</th><th>effect size</th><th></th></tr>" + rows + "</table>"
    )


def _quality_section(quality: DataQualityResult) -> str:
    def share(value: float | None) -> str:
        return _NONE if value is None else f"{value:.1%}"

    ranked = sorted(
        quality.columns,
        key=lambda c: -(c.missing_share + (c.unseen_share or 0) + (c.out_of_range_share or 0)),
    )
    rows = "".join(
        f'<tr><td class="name">{_e(c.name)}</td><td>{_e(c.kind)}</td>'
        f"<td>{share(c.missing_share)}</td><td>{share(c.reference_missing_share)}</td>"
        f"<td>{share(c.unseen_share)}</td><td>{share(c.out_of_range_share)}</td></tr>"
        for c in ranked[:_MAX_TABLE_ROWS]
    )
    schema = []
    if quality.missing_columns:
        schema.append("missing columns: " + ", ".join(map(_e, quality.missing_columns)))
    if quality.new_columns:
        schema.append("new columns: " + ", ".join(map(_e, quality.new_columns)))
    for name, change in quality.type_changes.items():
        schema.append(f"{_e(name)}: {_e(change)}")
    schema_text = (
        "<ul>" + "".join(f"<li>{item}</li>" for item in schema) + "</ul>"
        if schema
        else '<p class="note">Schema: the columns and their kinds are the reference\'s.</p>'
    )
    return (
        f'<h2>Data quality</h2><p class="note">{quality.n_rows} rows in the window.</p>'
        '<table><tr><th class="name">column</th><th>kind</th><th>missing</th>'
        "<th>missing in reference</th><th>unseen categories</th><th>out of range</th></tr>"
        + rows
        + "</table>"
        + schema_text
    )


def _estimated_section(perf: PerformanceSnapshot) -> str:
    """Estimated metrics (with intervals) beside the realized ones and the baseline."""
    estimate = perf.estimated
    if estimate is None:
        return ""
    rows = []
    for name, value in estimate.metrics.items():
        low, high = estimate.intervals.get(name, (value, value))
        realized = perf.metrics.get(name) if perf.n_samples else None
        base = perf.baseline.get(name)
        degraded = name in estimate.degraded_metrics
        mark = '<span class="mark bad">✗ degraded</span>' if degraded else ""
        rows.append(
            f'<tr class="{"drifted" if degraded else ""}"><td class="name">{_e(name)}</td>'
            f"<td>{_num(value)}</td><td>{_num(low)} to {_num(high)}</td>"
            f"<td>{_NONE if realized is None else _num(realized)}</td>"
            f"<td>{_NONE if base is None else _num(base)}</td><td>{mark}</td></tr>"
        )
    if not perf.enough_samples:
        basis = f"only {perf.n_samples} labels so far: the verdict follows the estimate"
    elif estimate.decides:
        basis = (
            f"only {estimate.labelled_in_window} of these predictions are labelled yet, and the "
            "labelled ones, older, show no degradation: the verdict follows the estimate"
        )
    else:
        basis = "the verdict follows the realized metrics"
    return (
        "<h3>Estimated before labels</h3>"
        f"<p>From the model's confidence over the latest {estimate.n_samples} predictions "
        f"(calibration: {_e(estimate.calibration.method)}; {int(estimate.confidence * 100)}% "
        f"intervals); {basis}. An estimate cannot see concept shift: only labels show it.</p>"
        '<table><tr><th class="name">metric</th><th>estimated</th><th>interval</th>'
        "<th>realized</th><th>baseline</th><th></th></tr>" + "".join(rows) + "</table>"
    )


def _performance_section(perf: PerformanceSnapshot) -> str:
    if perf.n_samples == 0 and perf.estimated is not None:
        return "<h2>Performance against the baseline</h2>" + _estimated_section(perf)
    rows = []
    for name, value in perf.metrics.items():
        base = perf.baseline.get(name)
        delta = _NONE if base is None else f"{value - base:+.3f}"
        relative = "" if not base else f" ({(value - base) / base:+.1%})"
        degraded = name in perf.degraded_metrics
        mark = '<span class="mark bad">✗ degraded</span>' if degraded else ""
        rows.append(
            f'<tr class="{"drifted" if degraded else ""}"><td class="name">{_e(name)}</td>'
            f"<td>{_num(value)}</td><td>{_NONE if base is None else _num(base)}</td>"
            f"<td>{delta}{relative}</td><td>{mark}</td></tr>"
        )
    table = (
        '<table><tr><th class="name">metric</th><th>current</th><th>baseline</th>'
        "<th>difference</th><th></th></tr>" + "".join(rows) + "</table>"
    )
    if perf.task != "binary":
        recalls = "".join(
            f'<tr><td class="name">{_e(label)}</td><td>{_num(value)}</td></tr>'
            for label, value in sorted(perf.class_recall.items())[:_MAX_TABLE_ROWS]
        )
        per_class = (
            '<h3>Recall per class</h3><table><tr><th class="name">class</th><th>recall</th></tr>'
            + recalls
            + "</table>"
            if recalls
            else ""
        )
        return "<h2>Performance against the baseline</h2>" + table + per_class
    matrix = np.array(
        [[perf.true_negatives, perf.false_positives], [perf.false_negatives, perf.true_positives]]
    )
    top = int(matrix.max()) or 1
    cells = []
    for r, label in enumerate(("negative", "positive")):
        row = f'<tr><th class="name">actual {label}</th>'
        for c in range(2):
            count = int(matrix[r, c])
            shade = count / top  # colour from 0, so small counts stay readable
            colour = f"rgba(91,127,166,{0.08 + 0.8 * shade:.2f})"
            text = "white" if shade > 0.6 else "#263238"
            row += f'<td style="background:{colour};color:{text}">{count}</td>'
        cells.append(row + "</tr>")
    confusion = (
        "<table><tr><th></th><th>predicted negative</th><th>predicted positive</th></tr>"
        + "".join(cells)
        + "</table>"
    )
    return (
        "<h2>Performance against the baseline</h2>"
        + table
        + _estimated_section(perf)
        + "<h3>Confusion matrix</h3>"
        + confusion
    )


def _drift_timeline(checks: Sequence[CheckResult], current: CheckResult) -> str:
    points, threshold = [], None
    for check in checks:
        if check.drift is None:
            continue
        threshold = check.drift.p_val
        points.append(
            TimelinePoint(
                check.timestamp.astimezone(UTC),
                "drift",
                check.drift.p_value,
                check.drift.drift_detected,
                check.triggered,
                check.timestamp == current.timestamp and check.kind == current.kind,
            )
        )
    if not points:
        return ""
    return (
        "<p>Drift p-values (log scale); red: drift detected, ▲ retraining triggered.</p>"
        + timeline(points, threshold=threshold, log_scale=True, label="p-value")
    )


def _performance_timeline(checks: Sequence[CheckResult], current: CheckResult) -> str:
    snapshots = [(c, c.performance) for c in checks if c.performance is not None]
    if not snapshots:
        return ""
    latest = snapshots[-1][1]
    name = next((k for k in ("accuracy", *latest.metrics) if k in latest.metrics), None)
    if name is None:
        return ""
    points = [
        TimelinePoint(
            check.timestamp.astimezone(UTC),
            "performance",
            snapshot.metrics.get(name, float("nan")),
            snapshot.degraded,
            check.triggered,
            check.timestamp == current.timestamp and check.kind == current.kind,
        )
        for check, snapshot in snapshots
    ]
    base = latest.baseline.get(name)
    limit = None if base is None else base * (1 - latest.threshold)
    return f"<p>{_e(name)} over the labelled window; dashed: the degradation limit.</p>" + timeline(
        points, threshold=limit, log_scale=False, label=name
    )


def _timeline_section(current: CheckResult, history: Sequence[CheckResult]) -> str:
    checks = sorted((h for h in history if h.ran), key=lambda h: h.timestamp)
    listed = any(h.timestamp == current.timestamp and h.kind == current.kind for h in checks)
    if current.ran and not listed:
        checks.append(current)
    charts = _drift_timeline(checks, current) + _performance_timeline(checks, current)
    return "<h2>Recent checks</h2>" + (charts or '<p class="note">No checks have run yet.</p>')


# -- the page ----------------------------------------------------------------------------


def render_report(
    result: CheckResult,
    *,
    model_name: str,
    model_version: str,
    samples: Samples | None = None,
    history: Sequence[CheckResult] = (),
    links: Mapping[str, str] | None = None,
) -> str:
    """The HTML report of one check.

    Args:
        result: the check.
        model_name, model_version: the monitored stream.
        samples: reference and current values of the columns to draw (from
            :func:`~mlflow_monitor.tracking.artifacts.histogram_samples`).
        history: recent checks of this model version, any kind, for the timeline.
        links: label to URL (e.g. the history run in the MLflow UI), listed at the bottom.

    Returns:
        A complete, self-contained HTML document.
    """
    found = result.ran and result.status != "ok"
    badge_class = "skipped" if not result.ran else ("found" if found else "fine")
    badge = {"drift": "drift", "degraded": "degraded", "ok": "ok"}.get(result.status, result.status)
    when = result.timestamp.astimezone(UTC)
    title = f"{model_name} v{model_version}: {result.kind} check"
    box = "found-box" if found else ("fine-box" if result.ran else "")
    sections = [
        f'<h1>{_e(title)}<span class="verdict {badge_class}">{_e(badge)}</span></h1>',
        f'<div class="meta">{when:%Y-%m-%d %H:%M:%S} UTC · mlflow-monitor {_e(__version__)}</div>',
        "<h2>Summary</h2>",
        f'<div class="summary {box}"><ul>'
        + "".join(f"<li>{item}</li>" for item in _summary_items(result))
        + "</ul></div>",
    ]
    if result.drift is not None:
        sections.append(_drift_section(result.drift, samples or {}))
    if result.prediction_drift is not None:
        sections.append(_prediction_section(result.prediction_drift))
    if result.quality is not None:
        sections.append(_quality_section(result.quality))
    if result.performance is not None and result.performance.n_samples:
        sections.append(_performance_section(result.performance))
    sections.append(_timeline_section(result, history))
    if links:
        sections.append(
            "<h2>Links</h2><ul>"
            + "".join(
                f'<li><a href="{_e(url)}">{_e(label)}</a></li>' for label, url in links.items()
            )
            + "</ul>"
        )
    sections.append(
        "<footer>Generated by mlflow-monitor from this check's result "
        "(check_result.json in the same run).</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        + "".join(sections)
        + "</body></html>\n"
    )
