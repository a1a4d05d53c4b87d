"""How checks are named in MLflow: metric keys, params, run names, tags.

Metric keys are grouped by ``/`` prefixes, which MLflow's chart view shows as sections:
``drift/…`` (the multivariate verdict), ``performance/…`` (live metrics, their baseline and
the difference), ``feature/<column>/…`` (the most drifted columns only; the artifact table has
them all). Run names say the verdict, e.g. ``drift ✗ p=0.0099 · reviews v1``.

Everything a person reads about a check run is named here, so that renaming a metric is one
change; :mod:`~mlflow_monitor.tracking.artifacts` builds the values.
"""

from __future__ import annotations

import math
import re

from mlflow_monitor.results import CheckResult

__all__ = [
    "LEGACY_METRIC_KEYS",
    "check_run_name",
    "check_verdict",
    "drift_key",
    "feature_key",
    "performance_key",
    "prediction_key",
    "quality_key",
    "readable",
    "sanitize",
]

# Outcome marks in run names: ✗ something was found, ✓ nothing was.
_FOUND, _FINE = "\u2717", "\u2713"
_SIGNIFICANT = 4  # digits of the values logged as metrics (the JSON artifact has them all)

# Keys of runs logged before metrics were grouped, read by the baselines table as fallbacks.
LEGACY_METRIC_KEYS = {
    "drift/p_value": "drift_p_value",
    "drift/detected": "drift_detected",
    "performance/window_size": "window_size",
}


def sanitize(name: str) -> str:
    """``name`` with only the characters MLflow accepts in every key, on every platform."""
    # MLflow allows alphanumerics, "_", "-", ".", " ", "/" and (not on Windows) ":"; slashes
    # and colons are replaced too, so a feature name cannot add a section or fail on Windows.
    return re.sub(r"[^A-Za-z0-9_.\- ]", "_", name).strip() or "_"


def drift_key(name: str) -> str:
    """The key of a drift metric, e.g. ``drift/p_value``."""
    return f"drift/{name}"


def performance_key(name: str) -> str:
    """The key of a performance metric, e.g. ``performance/precision_delta``."""
    return f"performance/{name}"


def prediction_key(name: str) -> str:
    """The key of a prediction drift metric, e.g. ``prediction/probability/ks_p_value``."""
    return f"prediction/{name}"


def quality_key(name: str) -> str:
    """The key of a data quality metric, e.g. ``quality/price/missing_share``."""
    return f"quality/{name}"


def feature_key(suffix: str, name: str) -> str:
    """The key of a per-column metric, e.g. ``feature/price/ks_p_value``."""
    return f"feature/{suffix}/{name}"


def readable(value: float) -> float:
    """``value`` rounded to four significant digits (0.0099009901 becomes 0.0099)."""
    if not math.isfinite(value) or value == 0:
        return value
    digits = _SIGNIFICANT - 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)


def _p(value: float) -> str:
    return f"{value:.2g}" if value < 0.001 else f"{value:.4g}"


def check_verdict(result: CheckResult) -> str:
    """A check's verdict in a few words, e.g. ``drift ✗ p=0.0099``, ``drift ✗ p=2e-09 · alarm``
    (the drift alarm fired) or ``performance ✓ accuracy 0.91`` (``✗``: something was found)."""
    if not result.ran:
        return f"{result.kind} skipped"
    mark = _FINE if result.status == "ok" else _FOUND
    detail = ""
    if result.drift is not None:
        detail = f" p={_p(result.drift.p_value)}"
        if result.drift.alarm_fired:
            detail += " · alarm"
    elif result.performance is not None:
        snapshot = result.performance
        metrics, drops, shown = snapshot.metrics, snapshot.degraded_metrics, ""
        estimated = snapshot.estimated
        if estimated is not None and (estimated.decides or not snapshot.enough_samples):
            # the verdict followed the estimate: say so
            metrics, drops, shown = estimated.metrics, estimated.degraded_metrics, "est. "
        name = (
            max(drops, key=lambda k: drops[k])
            if drops
            else next((k for k in ("accuracy", *metrics) if k in metrics), "")
        )
        if name:
            detail = f" {shown}{name} {metrics[name]:.3g}"
            base = snapshot.baseline.get(name)
            if base:
                detail += f" ({(metrics[name] - base) / base:+.0%})"
    return f"{result.kind} {mark}{detail}"


def check_run_name(result: CheckResult, model_name: str, model_version: str) -> str:
    """The name of a check's run: its verdict and the model.

    Examples: ``drift ✗ p=0.0099 · reviews v1``, ``performance ✓ accuracy 0.91 · reviews v1``,
    ``performance ✗ f1_score 0.66 (-12%) · reviews v1``, ``drift skipped · reviews v1``.
    """
    return f"{check_verdict(result)} \u00b7 {model_name} v{model_version}"
