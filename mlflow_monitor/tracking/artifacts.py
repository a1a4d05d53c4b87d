"""What a check run holds: its metrics, params and artifact files, made from a check result.

Everything here works from a :class:`~mlflow_monitor.results.CheckResult` (and, for drift
histograms, the tested samples) without MLflow; :mod:`mlflow_monitor.tracking.check_runs` logs the
outcome. A run's artifacts are:

* ``check_result.json``: the whole result, with the model name and version;
* for drift: ``feature_drift.csv`` and ``feature_drift.json``, every feature ranked most
  drifted first with the suffix of its per-feature metrics, and ``drift_plot.png``:
  histograms of the most drifted features when the samples were given, else a bar chart
  of the KS statistics;
* for performance: ``confusion_matrix.json`` and ``confusion_matrix.png``.

Plots are drawn with matplotlib's Agg canvas, imported only when a plot is drawn.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.results import (
    CheckResult,
    DataQualityResult,
    DriftResult,
    FeatureDrift,
    PerformanceSnapshot,
    PredictionDrift,
)
from mlflow_monitor.tracking.names import (
    drift_key,
    feature_key,
    performance_key,
    prediction_key,
    quality_key,
    readable,
    sanitize,
)
from mlflow_monitor.tracking.report import render_report

__all__ = [
    "check_metrics",
    "check_params",
    "feature_metric_suffixes",
    "histogram_samples",
    "write_check_artifacts",
]

logger = logging.getLogger(__name__)

_HISTOGRAM_FEATURES = 4  # drawn in drift_plot.png when the caller passes the samples
_REPORT_FEATURES = 12  # drifted columns drawn in report.html
_BAR_FEATURES = 20  # drawn otherwise
_SAMPLE_CAP = 5000  # values kept per feature and sample for the histograms
_MAX_KEY = 250  # MLflow's longest metric name


def feature_metric_suffixes(names: Sequence[str], room: int = _MAX_KEY - 30) -> dict[str, str]:
    """Map feature names to unique metric-name suffixes MLflow accepts.

    ``"price/€"`` becomes ``"price__"``; names that collide after sanitising get ``_2``,
    ``_3`` ... appended; every suffix fits in ``room`` characters.
    """
    suffixes: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = sanitize(name)[:room]
        suffix, n = base, 1
        while suffix in used:
            n += 1
            suffix = f"{base[: room - len(str(n)) - 1]}_{n}"
        used.add(suffix)
        suffixes[name] = suffix
    return suffixes


def _ranked(features: Sequence[FeatureDrift]) -> list[FeatureDrift]:
    """Most drifted first: largest KS statistic, then smallest adjusted p-value."""
    return sorted(features, key=lambda f: (-f.statistic, f.adjusted_p_value, f.name))


# -- metrics and params ------------------------------------------------------------------


def _drift_metrics(drift: DriftResult, max_features: int) -> dict[str, float]:
    metrics = {
        drift_key("p_value"): drift.p_value,
        drift_key("distance"): drift.distance,
        drift_key("distance_threshold"): drift.distance_threshold,
        drift_key("detected"): float(drift.drift_detected),
        drift_key("n_test"): float(drift.n_test),
        drift_key("n_reference"): float(drift.n_reference),
        drift_key("n_drifted_features"): float(sum(f.drift_detected for f in drift.features)),
        drift_key("score"): drift.score,
        drift_key("effect_size"): drift.effect_size,
    }
    if drift.mmd_p_value is not None:
        metrics[drift_key("mmd_p_value")] = drift.mmd_p_value
    if drift.alarm is not None:
        metrics[drift_key("alarm")] = float(drift.alarm.fired)
        metrics[drift_key("evidence")] = drift.alarm.statistic
        metrics[drift_key("alarm_threshold")] = drift.alarm.threshold
    suffixes = feature_metric_suffixes([f.name for f in drift.features])
    for feature in _ranked(drift.features)[:max_features]:
        suffix = suffixes[feature.name]
        test = feature.test  # "ks" (the seed's keys) or "chi2"
        metrics[feature_key(suffix, f"{test}_statistic")] = feature.statistic
        # the p-value the verdict used (corrected); the uncorrected one under its own name
        metrics[feature_key(suffix, f"{test}_p_value")] = feature.adjusted_p_value
        metrics[feature_key(suffix, f"{test}_raw_p_value")] = feature.p_value
        metrics[feature_key(suffix, "effect")] = feature.effect
        if feature.effect_size is not None:
            metrics[feature_key(suffix, "effect_size")] = feature.effect_size
        if feature.unseen_share is not None:
            metrics[feature_key(suffix, "unseen_share")] = feature.unseen_share
    return metrics


def _prediction_metrics(result: PredictionDrift) -> dict[str, float]:
    """``prediction/...``: the verdict and each output's test."""
    metrics = {prediction_key("drift_detected"): float(result.drift_detected)}
    for output in result.outputs:
        metrics[prediction_key(f"{output.name}/{output.test}_statistic")] = output.statistic
        metrics[prediction_key(f"{output.name}/{output.test}_p_value")] = output.p_value
        metrics[prediction_key(f"{output.name}/adjusted_p_value")] = output.adjusted_p_value
        if output.effect_size is not None:
            metrics[prediction_key(f"{output.name}/effect_size")] = output.effect_size
    return metrics


def _quality_metrics(quality: DataQualityResult, max_columns: int) -> dict[str, float]:
    """``quality/...``: the worst shares over all columns, the schema changes, and the
    shares of the ``max_columns`` columns with the most missing values."""
    metrics = {
        quality_key("max_missing_share"): quality.max_missing_share,
        quality_key("max_unseen_share"): quality.max_unseen_share,
        quality_key("max_out_of_range_share"): quality.max_out_of_range_share,
        quality_key("schema_changes"): float(quality.schema_changes),
    }
    suffixes = feature_metric_suffixes([c.name for c in quality.columns])
    ranked = sorted(quality.columns, key=lambda c: -c.missing_share)[:max_columns]
    for column in ranked:
        suffix = suffixes[column.name]
        metrics[quality_key(f"{suffix}/missing_share")] = column.missing_share
        if column.unseen_share is not None:
            metrics[quality_key(f"{suffix}/unseen_share")] = column.unseen_share
        if column.out_of_range_share is not None:
            metrics[quality_key(f"{suffix}/out_of_range_share")] = column.out_of_range_share
    return metrics


def _performance_metrics(snapshot: PerformanceSnapshot) -> dict[str, float]:
    metrics = _estimated_metrics(snapshot)
    if snapshot.n_samples == 0:  # estimated only: no realized value to log
        metrics[performance_key("window_size")] = 0.0
        return metrics
    metrics.update({performance_key(k): v for k, v in snapshot.metrics.items()})
    for name, value in snapshot.baseline.items():
        metrics[performance_key(f"{name}_baseline")] = value
        if name in snapshot.metrics:
            metrics[performance_key(f"{name}_delta")] = snapshot.metrics[name] - value
    metrics[performance_key("window_size")] = float(snapshot.n_samples)
    metrics[performance_key("degraded")] = float(snapshot.degraded)
    if snapshot.task == "binary":  # the confusion counts are binary ones
        for name, count in snapshot.confusion.items():
            metrics[performance_key(f"confusion/{name}")] = float(count)
    suffixes = feature_metric_suffixes(list(snapshot.class_recall))
    for label, value in snapshot.class_recall.items():
        metrics[performance_key(f"class_recall/{suffixes[label]}")] = value
    return metrics


def _estimated_metrics(snapshot: PerformanceSnapshot) -> dict[str, float]:
    """``performance/estimated_<metric>`` with its interval (``_low``, ``_high``) and, once
    labels join, ``performance/estimation_error_<metric>`` (estimated minus realized)."""
    estimate = snapshot.estimated
    if estimate is None:
        return {}
    metrics: dict[str, float] = {}
    for name, value in estimate.metrics.items():
        metrics[performance_key(f"estimated_{name}")] = value
        low, high = estimate.intervals.get(name, (value, value))
        metrics[performance_key(f"estimated_{name}_low")] = low
        metrics[performance_key(f"estimated_{name}_high")] = high
    for name, error in estimate.realized_error.items():
        metrics[performance_key(f"estimation_error_{name}")] = error
    metrics[performance_key("estimated_degraded")] = float(estimate.degraded)
    metrics[performance_key("estimated_window_size")] = float(estimate.n_samples)
    if estimate.labelled_in_window is not None:
        metrics[performance_key("estimated_window_labelled")] = float(estimate.labelled_in_window)
    metrics[performance_key("estimate_decides")] = float(estimate.decides)
    # NaN (the AUC of a window of one class) is left out
    return {k: v for k, v in metrics.items() if not math.isnan(v)}


def check_metrics(result: CheckResult, max_feature_metrics: int = 10) -> dict[str, float]:
    """The metrics logged for one check (to its run and to the history run).

    Keys are grouped by ``/`` prefixes (:mod:`mlflow_monitor.tracking.names`); values are
    rounded to four significant digits for reading (``check_result.json`` keeps them whole).

    Args:
        result: the check.
        max_feature_metrics: per-feature metrics are logged for this many features, the
            most drifted first (the artifact table has them all).

    Returns:
        Metric name to value; empty for a check without a drift result or snapshot.
    """
    metrics: dict[str, float] = {}
    if result.drift is not None:
        metrics = _drift_metrics(result.drift, max_feature_metrics)
        if result.quality is not None:
            metrics.update(_quality_metrics(result.quality, max_feature_metrics))
        if result.prediction_drift is not None:
            metrics.update(_prediction_metrics(result.prediction_drift))
    elif result.performance is not None:
        metrics = _performance_metrics(result.performance)
    return {key: readable(float(value)) for key, value in metrics.items()}


def check_params(result: CheckResult) -> dict[str, str]:
    """The params logged for one check: the settings its verdict depends on."""
    if result.drift is not None:
        drift = result.drift
        return {
            "drift/backend": drift.backend,
            "drift/significance_level": str(drift.p_val),
            "drift/feature_correction": drift.correction,
            "drift/kernel_sigma": f"{drift.sigma:.6g}",
        }
    if result.performance is not None:
        return {"performance/degradation_threshold": str(result.performance.threshold)}
    return {}


# -- histogram samples -------------------------------------------------------------------


def histogram_samples(
    drift: DriftResult, reference: Any, test: Any, feature_names: Sequence[str] | None
) -> dict[str, tuple[list[float], list[float]]]:
    """Reference and test values of the most drifted features, for the histograms."""
    names = list(feature_names) if feature_names is not None else [f.name for f in drift.features]
    try:
        columns = {}
        for which, data in (("reference", reference), ("test", test)):
            labels = {str(c): c for c in getattr(data, "columns", ())}
            named = set(names) <= set(labels)  # a DataFrame: take the columns by name
            matrix = np.asarray(data[[labels[n] for n in names]] if named else data, dtype=float)
            if matrix.ndim != 2 or matrix.shape[1] != len(names):
                raise DataValidationError(
                    f"{which} has shape {matrix.shape}, expected (n, {len(names)}) "
                    "with the columns of the features"
                )
            columns[which] = matrix
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        logger.warning("not drawing histograms: %s", exc)
        return {}
    # every drifted column (up to _REPORT_FEATURES), else at least the most drifted ones
    chosen = [f for f in _ranked(drift.features) if f.name in names]
    drifted = [f for f in chosen if f.drift_detected][:_REPORT_FEATURES]
    others = [f for f in chosen if not f.drift_detected]
    chosen = drifted + others[: max(_HISTOGRAM_FEATURES - len(drifted), 0)]
    samples: dict[str, tuple[list[float], list[float]]] = {}
    for feature in chosen:
        i = names.index(feature.name)
        ref, tst = (_finite_sample(columns[w][:, i]) for w in ("reference", "test"))
        if ref and tst:
            samples[feature.name] = (ref, tst)
    return samples


def _finite_sample(column: np.ndarray[Any, Any]) -> list[float]:
    column = column[np.isfinite(column)]
    stride = max(1, math.ceil(len(column) / _SAMPLE_CAP))
    return [float(v) for v in column[::stride]]


# -- files -------------------------------------------------------------------------------


def write_check_artifacts(
    directory: Path,
    result: CheckResult,
    samples: Mapping[str, tuple[list[float], list[float]]],
    *,
    model_name: str,
    model_version: str,
    history: Sequence[CheckResult] = (),
    links: Mapping[str, str] | None = None,
) -> None:
    """Write the artifact files of one check run into ``directory``.

    Args:
        directory: an existing, empty directory.
        result: the check.
        samples: from :func:`histogram_samples` (may be empty) for a drift check's plot.
        model_name, model_version: written into ``check_result.json``.
        history: recent checks for the timeline of ``report.html``.
        links: label to URL, listed at the bottom of ``report.html``.
    """
    document = {"model_name": model_name, "model_version": model_version}
    _write_json(directory / "check_result.json", {**document, **result.to_dict()})
    report = render_report(
        result,
        model_name=model_name,
        model_version=model_version,
        samples=samples,
        history=history,
        links=links,
    )
    (directory / "report.html").write_text(report, encoding="utf-8")
    if result.drift is not None:
        _write_drift_table(directory, result.drift)
        _plot(_plot_drift, directory / "drift_plot.png", result.drift, samples)
    if result.performance is not None:
        _write_json(directory / "confusion_matrix.json", _confusion(result.performance))
        _plot(_plot_confusion, directory / "confusion_matrix.png", result.performance)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, allow_nan=True))


def _write_drift_table(directory: Path, drift: DriftResult) -> None:
    suffixes = feature_metric_suffixes([f.name for f in drift.features])
    rows = [
        {"rank": rank, **feature.to_dict(), "metric_suffix": suffixes[feature.name]}
        for rank, feature in enumerate(_ranked(drift.features), start=1)
    ]
    columns = [
        "rank",
        "name",
        "statistic",
        "p_value",
        "adjusted_p_value",
        "drift_detected",
        "effect",
        "mean_shift",
    ]
    if any("kind" in row for row in rows):  # tests by column kind, with effect sizes
        columns += ["kind", "test", "effect_size", "effect_size_name", "unseen_share"]
        columns += ["changed_tokens"]
    with (directory / "feature_drift.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*columns, "metric_suffix"], restval="")
        writer.writeheader()
        for row in rows:
            tokens = row.get("changed_tokens")
            writer.writerow({**row, "changed_tokens": json.dumps(tokens)} if tokens else row)
    _write_json(
        directory / "feature_drift.json",
        {"correction": drift.correction, "p_val": drift.p_val, "features": rows},
    )


def _confusion(snapshot: PerformanceSnapshot) -> dict[str, Any]:
    s = snapshot
    return {
        **s.confusion,
        "labels": ["negative", "positive"],
        "rows": "actual",
        "columns": "predicted",
        "matrix": [[s.true_negatives, s.false_positives], [s.false_negatives, s.true_positives]],
    }


# -- plots -------------------------------------------------------------------------------


def _plot(draw: Any, path: Path, *args: Any) -> None:
    """Draw on a figure with matplotlib's Agg canvas and save it as PNG.

    pyplot is not used, so the caller's matplotlib backend and figures are left alone. A
    plot is an extra: when drawing fails the check is logged without it.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(9, 6), layout="constrained")
        FigureCanvasAgg(figure)
        if draw(figure, *args):
            figure.savefig(path, format="png", dpi=100)
    except Exception as exc:  # ImportError included: matplotlib comes with mlflow, but still
        logger.warning("could not draw %s: %s", path.name, exc)


def _plot_drift(
    figure: Any, drift: DriftResult, samples: Mapping[str, tuple[list[float], list[float]]]
) -> bool:
    by_name = {f.name: f for f in drift.features}
    samples = dict(list(samples.items())[:_HISTOGRAM_FEATURES])
    if samples:
        axes = figure.subplots(2, 2).ravel() if len(samples) > 2 else figure.subplots(1, 2)
        for ax, (name, (reference, test)) in zip(axes, samples.items(), strict=False):
            edges = np.histogram_bin_edges(np.concatenate([reference, test]), bins=30)
            ax.hist(reference, bins=edges, density=True, alpha=0.5, label="reference")
            ax.hist(test, bins=edges, density=True, alpha=0.5, label="test window")
            f = by_name[name]
            verdict = "DRIFTED" if f.drift_detected else "not drifted"
            ax.set_title(
                f"{name}: {verdict}\nKS {f.statistic:.3f}, adj. p {f.adjusted_p_value:.2g}",
                color="tab:red" if f.drift_detected else "black",
            )
            ax.legend(fontsize="small")
        for ax in list(axes)[len(samples) :]:
            ax.set_visible(False)
        drifted = sum(f.drift_detected for f in drift.features)
        figure.suptitle(
            f"{drifted} of {len(drift.features)} features drifted; reference vs. test window"
        )
        return True
    top = _ranked(drift.features)[:_BAR_FEATURES][::-1]
    if not top:
        return False
    ax = figure.subplots()
    colors = ["tab:red" if f.drift_detected else "tab:blue" for f in top]
    ax.barh([f.name for f in top], [f.statistic for f in top], color=colors)
    ax.set_xlabel("KS statistic (red: drift detected)")
    ax.set_title("Most drifted features")
    return True


def _plot_confusion(figure: Any, snapshot: PerformanceSnapshot) -> bool:
    matrix = np.array(_confusion(snapshot)["matrix"])
    ax = figure.subplots()
    top = max(int(matrix.max()), 1)
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=top)  # from 0: small counts stay readable
    for (row, col), count in np.ndenumerate(matrix):
        dark = count > top * 0.6
        ax.text(col, row, str(count), ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks([0, 1], ["negative", "positive"])
    ax.set_yticks([0, 1], ["negative", "positive"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix over {snapshot.n_samples} labelled predictions")
    return True
