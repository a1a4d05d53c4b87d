"""Registry tags a monitored version and its inner version carry."""

from __future__ import annotations

__all__ = ["BASELINE_TAG_PREFIX", "TAG_INNER_URI", "TAG_MONITORED"]

# baseline.<metric> on both versions, so the baseline shows in the registry UI
BASELINE_TAG_PREFIX = "baseline."
# on the monitored version: the version it wraps
TAG_INNER_URI = "mlflow_monitor.inner_model_uri"
# on the inner version: the monitored version wrapping it
TAG_MONITORED = "mlflow_monitor.monitored"
