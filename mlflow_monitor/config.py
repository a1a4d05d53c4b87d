"""Monitor configuration: the documented option names, validated at the boundary.

A config is a plain dict for users (``create_monitor(config={...})``) and a frozen
:class:`MonitorConfig` inside the library. Unknown keys, wrong types and out-of-range values
raise :class:`~mlflow_monitor.exceptions.ConfigError` naming the key, the value and what is
allowed.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mlflow_monitor.exceptions import ConfigError
from mlflow_monitor.redaction import redact_config, redact_uri

__all__ = [
    "CONNECTION_OPTIONS",
    "DRIFT_BACKENDS",
    "DRIFT_DTYPES",
    "DRIFT_NULLS",
    "FEATURE_CORRECTIONS",
    "TASKS",
    "MonitorConfig",
    "RetrainingCallback",
    "check_backend_dtype",
    "check_backend_null",
    "check_resolution",
    "validate_update_ref",
]

RetrainingCallback = Callable[[str, dict[str, Any]], None]

DRIFT_BACKENDS = ("builtin", "alibi-detect")
DRIFT_DTYPES = ("float64", "float32")
# How the MMD test's p-value is computed: random splits, or a gamma with the exact moments of
# all splits (drift/mmd_gamma.py).
DRIFT_NULLS = ("permutation", "gamma")
RETRAIN_ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
FEATURE_CORRECTIONS = ("bonferroni", "holm", "fdr")
# What the model predicts; performance/tasks.py defines each task's metrics.
TASKS = ("binary", "multiclass", "regression")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_STORE_URI = re.compile(r"^(sqlite|postgresql)(\+\w+)?://")
_MAX_NAME_LENGTH = 255
_UPDATE_REF_KEYS = ("last", "sigma")
# Durations are waited for with threading timeouts, which cannot exceed TIMEOUT_MAX seconds
# (about 292 years on Linux); a longer (or infinite) interval would crash the waiting thread.
_MAX_WAIT_SECONDS = threading.TIMEOUT_MAX
_MAX_SIGMA = 1e300
_MAX_INT = sys.maxsize


CONNECTION_OPTIONS = frozenset(
    {
        "store_uri",
        "tracking_uri",
        "experiment_name",
        "log_checks",
        "retrain_project_uri",
        "retrain_entry_point",
        "retrain_env_manager",
        "retrain_parameters",
        "retraining_callback",
    }
)
"""Options that say where a monitor connects and what it runs: a state file never sets them
(``load_monitor`` takes them from the caller only), so loading state never runs a command or
opens a file or server the file names."""


def _default_update_ref() -> dict[str, Any]:
    return {"last": 1000, "sigma": 1.0}


@dataclass(frozen=True)
class MonitorConfig:
    """Validated monitor options. Build one with :meth:`from_dict`.

    The first group are the documented options (``SEED-API``); the second group are additions
    with defaults that keep the documented behaviour (``task`` is ``"binary"``,
    ``"multiclass"`` or ``"regression"``: what the model predicts, which chooses the
    performance metrics and what a prediction may be; ``quality_max_missing_share`` and
    ``quality_max_unseen_share``, None by default, make a drift check whose window has a
    column above that share of missing values or unseen categories fire a ``data_quality``
    trigger; ``performance_estimation_triggers``, True by default, lets an estimated
    degradation fire a ``performance_degradation`` trigger before labels arrive, once
    ``ModelMonitor.setup_performance_estimation`` was called; ``classes``, a multiclass
    model's classes in the order of its probability vectors, which says how recorded class
    probabilities are kept). The third group chooses the inference
    store: ``store_uri`` None keeps predictions in the process (an ``InMemoryStore``); a
    SQLAlchemy URL (``sqlite:///monitoring.db``, ``postgresql+psycopg://...``) shares them
    through a database, as the stream (``model_name``, ``model_version``), written in batches
    of ``store_batch_size`` rows at least every ``store_flush_seconds`` from a queue of at most
    ``store_queue_size`` rows. The leader of the stream deletes predictions older than
    ``store_retention_days`` (30 by default; None keeps everything) in the background, in
    small transactions that never hold writers up for long.

    The last group connects the monitor to MLflow: with ``log_checks`` every check that runs
    is logged as an MLflow run (experiment ``experiment_name``, default
    ``monitoring/<model_name>``, on ``tracking_uri``, default MLflow's); with
    ``retrain_project_uri`` a fired trigger launches the project's ``retrain_entry_point``
    with ``retrain_env_manager`` and the extra ``retrain_parameters``.
    """

    performance_window_size: int = 1000
    performance_threshold: float = 0.05
    performance_check_minutes: float = 10.0
    drift_p_value: float = 0.05
    drift_check_minutes: float = 30.0
    drift_update_ref: dict[str, Any] | None = field(default_factory=_default_update_ref)
    metrics_prefix: str = "fake_review_detection"
    enable_drift_detection: bool = True
    enable_performance_tracking: bool = True
    enable_prometheus: bool = True
    retraining_callback: RetrainingCallback | None = None

    task: str = "binary"
    performance_min_samples: int = 100
    performance_estimation_triggers: bool = True
    positive_label: int | str = 1
    classes: list[int | str] | None = None
    drift_window_size: int = 1000
    drift_min_samples: int = 100
    drift_n_permutations: int = 100
    drift_backend: str = "builtin"
    drift_dtype: str = "float64"
    drift_mmd_null: str = "permutation"
    drift_feature_correction: str = "bonferroni"
    quality_max_missing_share: float | None = None
    quality_max_unseen_share: float | None = None
    drift_alarm_checks: float = 5000.0
    drift_alarm_allowance: float = 1.5
    drift_min_effect: float = 0.1
    retraining_cooldown_minutes: float = 60.0
    max_pending_feedback: int = 100_000
    random_seed: int | None = None

    store_uri: str | None = None
    model_name: str = "default"
    model_version: str = "0"
    store_batch_size: int = 500
    store_flush_seconds: float = 1.0
    store_queue_size: int = 100_000
    store_retention_days: float | None = 30.0

    log_checks: bool = False
    tracking_uri: str | None = None
    experiment_name: str | None = None
    retrain_project_uri: str | None = None
    retrain_entry_point: str = "retrain"
    retrain_env_manager: str = "local"
    retrain_parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any] | MonitorConfig | None = None) -> MonitorConfig:
        """Build a config from a plain dict, rejecting unknown keys.

        Args:
            options: option names and values; missing options take their defaults. A
                ``MonitorConfig`` is returned as it is.

        Returns:
            The validated config.

        Raises:
            ConfigError: a key is unknown or a value has the wrong type or range.
        """
        if options is None:
            return cls()
        if isinstance(options, MonitorConfig):
            return options
        if not isinstance(options, Mapping):
            raise ConfigError(f"config must be a dict of options, got {type(options).__name__}")
        known = {f.name for f in fields(cls)}
        for key in options:
            if key not in known:
                hint = difflib.get_close_matches(str(key), sorted(known), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ConfigError(
                    f"unknown config option {key!r}{suggestion} "
                    f"(known options: {', '.join(sorted(known))})"
                )
        return cls(**dict(options))

    def to_dict(self) -> dict[str, Any]:
        """Return the options as JSON-serialisable values.

        The callback becomes its qualified name, and a password in a URL option
        (``store_uri``, ``tracking_uri``, ``retrain_project_uri``) becomes ``***``: this dict
        is what status reports, saved state and wrapped models show, so pass the real URL
        again (or through the environment) when restoring a monitor from it.
        """
        data = redact_config(asdict(self))
        callback = self.retraining_callback
        data["retraining_callback"] = (
            None
            if callback is None
            else f"{getattr(callback, '__module__', '?')}:{getattr(callback, '__qualname__', '?')}"
        )
        return data

    @property
    def reference_size(self) -> int | None:
        """How many reference rows are kept (``drift_update_ref['last']``), or None for all."""
        if self.drift_update_ref is None:
            return None
        return int(self.drift_update_ref["last"])

    @property
    def bandwidth_scale(self) -> float:
        """Multiplier of the median-heuristic kernel bandwidth (``drift_update_ref['sigma']``)."""
        if self.drift_update_ref is None:
            return 1.0
        return float(self.drift_update_ref.get("sigma", 1.0))


def _masked(uri: str) -> str:
    """``uri`` with its password, if any, replaced by ``***``."""
    return redact_uri(uri)


def check_resolution(p_val: float, n_permutations: int, key: str = "p_val") -> None:
    """Refuse a significance level the permutation test can never reach.

    The smallest p-value of a test with ``P`` permutations is ``1 / (1 + P)``; a level at or
    below it would never flag drift, silently.

    Raises:
        ConfigError: ``p_val <= 1 / (1 + n_permutations)``.
    """
    smallest = 1.0 / (1 + n_permutations)
    if p_val <= smallest:
        raise ConfigError(
            f"{key}={p_val!r} can never be reached with {n_permutations} permutations (the "
            f"smallest p-value is 1/(1+{n_permutations}) = {smallest:.4g}); raise "
            f"drift_n_permutations above {int(1 / p_val)} or the p-value threshold"
        )


def check_backend_dtype(backend: str, dtype: str, key: str = "dtype") -> None:
    """Refuse float32 for a backend that computes in float64 only.

    Raises:
        ConfigError: ``dtype`` is not ``"float64"`` and ``backend`` is ``"alibi-detect"``.
    """
    if backend == "alibi-detect" and dtype != "float64":
        raise ConfigError(
            f"{key}={dtype!r} applies to the builtin drift backend only; the alibi-detect "
            "backend computes in float64 (leave the dtype at 'float64' or use "
            "drift_backend='builtin')"
        )


def check_backend_null(backend: str, mmd_null: str, key: str = "mmd_null") -> None:
    """Refuse the gamma null for a backend that only runs permutations.

    Raises:
        ConfigError: ``mmd_null`` is not ``"permutation"`` and ``backend`` is
            ``"alibi-detect"``.
    """
    if backend == "alibi-detect" and mmd_null != "permutation":
        raise ConfigError(
            f"{key}={mmd_null!r} applies to the builtin drift backend only; the alibi-detect "
            "backend runs the permutation test (leave it at 'permutation' or use "
            "drift_backend='builtin')"
        )


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{key} must be {expected}, got {value!r}")


_MAX_COUNT = 2**31 - 1
# Sizes and counts above this are refused: they are used as lengths (deque maxlen, array
# sizes), which overflow a C ssize_t near 2**63, and nothing sensible needs more.


def _int(cfg: MonitorConfig, key: str, minimum: int) -> None:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_COUNT:
        raise _fail(key, value, f"an integer >= {minimum} (at most {_MAX_COUNT})")


def _number(cfg: MonitorConfig, key: str, low: float, high: float | None, open_low: bool) -> None:
    value = getattr(cfg, key)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = (value > low if open_low else value >= low) and (high is None or value < high)
    if not ok:
        bracket = "(" if open_low else "["
        upper = f"{high})" if high is not None else "inf)"
        raise _fail(key, value, f"a number in {bracket}{low}, {upper}")


def _duration(cfg: MonitorConfig, key: str, unit_seconds: float, open_low: bool = True) -> None:
    """A number of ``unit_seconds`` units, > 0 (or >= 0), finite, and short enough to be
    waited for with a thread timeout."""
    _number(cfg, key, 0.0, None, open_low)
    limit = _MAX_WAIT_SECONDS / unit_seconds
    value = getattr(cfg, key)
    if not value <= limit:  # infinity; NaN was refused above
        raise _fail(key, value, f"a finite number, at most {limit:.6g}")


def _flag(cfg: MonitorConfig, key: str) -> None:
    value = getattr(cfg, key)
    if not isinstance(value, bool):
        raise _fail(key, value, "True or False")


def _choice(cfg: MonitorConfig, key: str, allowed: tuple[str, ...]) -> None:
    value = getattr(cfg, key)
    if not isinstance(value, str) or value not in allowed:
        raise _fail(key, value, f"one of {', '.join(map(repr, allowed))}")


def validate_update_ref(value: Any, key: str = "drift_update_ref") -> None:
    """Check a reference-update policy such as ``{'last': 1000, 'sigma': 1.0}``.

    Raises:
        ConfigError: not a dict, an unknown key, or a bad ``last``/``sigma`` value.
    """
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise _fail(key, value, "a dict like {'last': 1000, 'sigma': 1.0} or None")
    unknown = [k for k in value if k not in _UPDATE_REF_KEYS]
    if unknown:
        raise ConfigError(
            f"{key} has unknown key {unknown[0]!r}; allowed keys are 'last' (most recent "
            f"reference rows to keep) and 'sigma' (kernel bandwidth multiplier), got {value!r}"
        )
    last = value.get("last")
    if isinstance(last, bool) or not isinstance(last, int) or not 2 <= last <= _MAX_COUNT:
        raise _fail(f"{key}['last']", last, f"an integer >= 2 (at most {_MAX_COUNT})")
    sigma = value.get("sigma", 1.0)
    ok = isinstance(sigma, int | float) and not isinstance(sigma, bool)
    if not (ok and 0 < sigma < _MAX_SIGMA):
        raise _fail(f"{key}['sigma']", sigma, "a finite number > 0")


def _validate(cfg: MonitorConfig) -> None:
    _int(cfg, "performance_window_size", 1)
    _number(cfg, "performance_threshold", 0.0, 1.0, open_low=True)
    _duration(cfg, "performance_check_minutes", 60)
    _number(cfg, "drift_p_value", 0.0, 1.0, open_low=True)
    _duration(cfg, "drift_check_minutes", 60)
    validate_update_ref(cfg.drift_update_ref)
    if not isinstance(cfg.metrics_prefix, str) or not _METRIC_NAME.match(cfg.metrics_prefix):
        raise _fail(
            "metrics_prefix",
            cfg.metrics_prefix,
            "a Prometheus name matching [a-zA-Z_:][a-zA-Z0-9_:]*",
        )
    for key in (
        "enable_drift_detection",
        "enable_performance_tracking",
        "enable_prometheus",
        "performance_estimation_triggers",
    ):
        _flag(cfg, key)
    if cfg.retraining_callback is not None and not callable(cfg.retraining_callback):
        raise _fail("retraining_callback", cfg.retraining_callback, "a callable(reason, details)")
    _choice(cfg, "task", TASKS)
    _int(cfg, "performance_min_samples", 1)
    if isinstance(cfg.positive_label, bool) or not isinstance(cfg.positive_label, int | str):
        raise _fail("positive_label", cfg.positive_label, "an int or str class label")
    _validate_classes(cfg)
    _int(cfg, "drift_window_size", 2)
    _int(cfg, "drift_min_samples", 2)
    if cfg.drift_min_samples > cfg.drift_window_size:
        raise ConfigError(
            f"drift_min_samples ({cfg.drift_min_samples}) must not exceed drift_window_size "
            f"({cfg.drift_window_size})"
        )
    _int(cfg, "drift_n_permutations", 1)
    _choice(cfg, "drift_mmd_null", DRIFT_NULLS)
    if cfg.drift_mmd_null == "permutation":
        check_resolution(cfg.drift_p_value, cfg.drift_n_permutations, "drift_p_value")
    _choice(cfg, "drift_backend", DRIFT_BACKENDS)
    _choice(cfg, "drift_dtype", DRIFT_DTYPES)
    check_backend_dtype(cfg.drift_backend, cfg.drift_dtype, "drift_dtype")
    check_backend_null(cfg.drift_backend, cfg.drift_mmd_null, "drift_mmd_null")
    _choice(cfg, "drift_feature_correction", FEATURE_CORRECTIONS)
    for key in ("quality_max_missing_share", "quality_max_unseen_share"):
        if getattr(cfg, key) is not None:
            _number(cfg, key, 0.0, 1.0, open_low=False)
    _number(cfg, "drift_alarm_checks", 2.0, 1e12, open_low=False)
    _number(cfg, "drift_alarm_allowance", 0.0, 8.0, open_low=True)
    _number(cfg, "drift_min_effect", 0.0, 1e6, open_low=False)
    _duration(cfg, "retraining_cooldown_minutes", 60, open_low=False)
    _int(cfg, "max_pending_feedback", 1)
    seed = cfg.random_seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise _fail("random_seed", seed, "None or an integer >= 0")
    _validate_store(cfg)
    _validate_mlflow(cfg)


def _validate_classes(cfg: MonitorConfig) -> None:
    classes = cfg.classes
    if classes is None:
        return
    expected = "None or a list of at least 2 distinct int or str class labels"
    if isinstance(classes, tuple):  # as a wrapped model's settings hold them
        classes = list(classes)
        object.__setattr__(cfg, "classes", classes)  # frozen: normalised once, here
    if not isinstance(classes, list) or len(classes) < 2:
        raise _fail("classes", classes, expected)
    if any(isinstance(c, bool) or not isinstance(c, int | str) for c in classes):
        raise _fail("classes", classes, expected)
    if len({str(c) for c in classes}) != len(classes):
        raise _fail("classes", classes, expected + " (no class twice)")


def _optional_text(cfg: MonitorConfig, key: str) -> None:
    value = getattr(cfg, key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _fail(key, value, "None or a non-empty string")


def _validate_mlflow(cfg: MonitorConfig) -> None:
    _flag(cfg, "log_checks")
    for key in ("tracking_uri", "experiment_name", "retrain_project_uri"):
        _optional_text(cfg, key)
    if not isinstance(cfg.retrain_entry_point, str) or not cfg.retrain_entry_point:
        raise _fail("retrain_entry_point", cfg.retrain_entry_point, "a non-empty string")
    _choice(cfg, "retrain_env_manager", RETRAIN_ENV_MANAGERS)
    params = cfg.retrain_parameters
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise _fail("retrain_parameters", params, "a dict of parameter name to value")
    try:  # saved in state files and wrapped models, and passed to the project run
        json.dumps(dict(params), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _fail("retrain_parameters", params, f"JSON-serialisable values ({exc})") from exc


def _validate_store(cfg: MonitorConfig) -> None:
    uri = cfg.store_uri
    if uri is not None and not (isinstance(uri, str) and _STORE_URI.match(uri)):
        raise _fail(
            "store_uri",
            _masked(uri) if isinstance(uri, str) else uri,
            "None or a SQLAlchemy URL of a sqlite or postgresql database, like "
            "'sqlite:///monitoring.db' or 'postgresql+psycopg://user@host/db'",
        )
    if uri is not None and uri.startswith("sqlite") and uri.split("://", 1)[1] in ("", "/:memory:"):
        raise _fail(
            "store_uri",
            uri,
            "a SQLite file other processes can open, like 'sqlite:///monitoring.db' (leave "
            "store_uri None for a store inside this process)",
        )
    for key in ("model_name", "model_version"):
        value = getattr(cfg, key)
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_NAME_LENGTH:
            raise _fail(key, value, f"a non-empty string of at most {_MAX_NAME_LENGTH} characters")
    _int(cfg, "store_batch_size", 1)
    _duration(cfg, "store_flush_seconds", 1)
    _int(cfg, "store_queue_size", 1)
    if cfg.store_retention_days is not None:
        _duration(cfg, "store_retention_days", 86400)
