"""The monitoring status of a registered monitored version, read without loading it.

``mlflow-monitor status models:/<name>/<version>`` asks here. Only ``monitor.json`` and
``baseline.json`` are downloaded; the inference store the version's serving processes share is
opened read-only, so a status creates, registers and writes nothing, and the inner model, the
reference and the detector are never loaded.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.model.loading import read_monitored_files
from mlflow_monitor.monitor.stored import stored_status
from mlflow_monitor.redaction import redact_uri

__all__ = ["monitored_status"]

logger = logging.getLogger(__name__)


def monitored_status(model_uri: str, store_uri: str | None = None) -> dict[str, Any]:
    """The status of ``model_uri``'s monitoring, from its shared inference store.

    Args:
        model_uri: a monitored model (``models:/reviews-monitored/2``, ``runs:/...``).
        store_uri: the store to read; by default the one its serving processes use
            (``MLFLOW_MONITOR_STORE_URI``, the wrap-time ``store_uri``, or the file next to a
            SQLite tracking store).

    Returns:
        The report of :func:`~mlflow_monitor.monitor.status.monitoring_status`, with
        ``"source": "store"``.

    Raises:
        ConfigError: the model is not a monitored model.
        StoreError: the store does not exist or cannot be read.
    """
    from mlflow_monitor.model.pyfunc import resolve_store_uri
    from mlflow_monitor.store.sql import SqlInferenceStore

    options, _settings, baseline = read_monitored_files(model_uri)
    options["store_uri"] = resolve_store_uri(store_uri or options.get("store_uri"))
    config = MonitorConfig.from_dict(options)
    logger.info("reading the status of %s from %s", redact_uri(model_uri), config.store_uri)
    store = SqlInferenceStore(
        str(config.store_uri), config.model_name, config.model_version, read_only=True
    )
    try:
        return stored_status(config, store, baseline)
    finally:
        store.close()
