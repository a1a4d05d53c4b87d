"""Bad input gets a clear error and changes nothing: property tests over the recording calls
and config parsing. Whatever is passed, the call either succeeds or raises a ``MonitorError``
subclass, and after an error the monitor (counts, store contents, metrics, status) is exactly
as before.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from prometheus_client import CollectorRegistry

from mlflow_monitor import MonitorConfig, MonitorError, create_monitor
from mlflow_monitor.config import DRIFT_BACKENDS, FEATURE_CORRECTIONS

PROPERTY = settings(
    max_examples=300,
    deadline=None,  # a shared 2-core machine
    derandomize=True,  # the same examples on every run: a failure is reproducible, CI stable
    suppress_health_check=[HealthCheck.too_slow],
)
N_FEATURES = 3

# -- what a caller might pass ---------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN and infinities included
    st.floats(min_value=0, max_value=1),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.complex_numbers(),
)
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        st.sets(st.integers(), max_size=3),
    ),
    max_leaves=8,
)
dtypes = st.sampled_from(
    [np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128, "U3", object]
)
arrays = hnp.arrays(
    dtype=dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
)
numpy_scalars = st.one_of(
    st.builds(np.float64, st.floats()),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.bool_, st.booleans()),
    st.builds(np.str_, st.text(max_size=4)),
    hnp.arrays(dtype=dtypes, shape=st.sampled_from([(), (1,), (1, 1)])),
    st.builds(pd.Series, st.lists(st.floats(), min_size=1, max_size=1)),
)
frames = st.builds(
    lambda rows, cols, value: pd.DataFrame(np.full((rows, cols), value)),
    st.integers(0, 3),
    st.integers(0, 4),
    st.one_of(st.floats(), st.integers(-5, 5), st.text(max_size=2)),
)
series = st.builds(pd.Series, st.lists(st.floats(), max_size=4))
# One value where one is expected, or an array or Series of several.
one_value = st.one_of(nested, numpy_scalars, arrays, series)
anything = st.one_of(nested, numpy_scalars, arrays, series, frames)


# Plausible rows, so that recording also succeeds sometimes.
good_rows = st.lists(st.floats(-1e6, 1e6), min_size=N_FEATURES, max_size=N_FEATURES)


def _monitor(task: str = "binary") -> Any:
    monitor = create_monitor(
        {"drift_min_samples": 10, "drift_window_size": 20, "random_seed": 0, "task": task},
        registry=CollectorRegistry(),
    )
    monitor.setup_drift_detection(np.random.default_rng(0).normal(size=(40, N_FEATURES)))
    monitor.record_predictions(
        [0, 1], [0.2, 0.9], features=[[0.0] * 3] * 2, prediction_ids=["a", "b"]
    )
    monitor.record_feedback("b", 1)
    return monitor


def _without_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timestamps(v) for k, v in value.items() if k != "timestamp"}
    if isinstance(value, list):
        return [_without_timestamps(v) for v in value]
    return value


def _snapshot(monitor: Any) -> tuple[Any, ...]:
    """Everything a recording could change."""
    status = _without_timestamps(monitor.get_monitoring_status())
    store = monitor.store
    return (
        json.dumps(status, sort_keys=True, default=repr),
        [record.to_list() for record in store.records()],
        store.labelled_window(10**9),
        [np.asarray(row).tobytes() for row in store.peek_features()],
        store.counts(),
        # Every metric but the one that counts rejected labels, whose job is to change.
        [
            line
            for line in monitor.prometheus_metrics.exposition().splitlines()
            if b"feedback_rejected" not in line
        ],
    )


def _changes_nothing_on_error(monitor: Any, call: Any) -> Any:
    before = _snapshot(monitor)
    try:
        return call()
    except MonitorError as exc:
        assert str(exc), "an error without a message"
        assert _snapshot(monitor) == before, f"state changed by a call that raised {exc!r}"
        return None


@PROPERTY
@given(
    prediction=st.one_of(one_value, st.sampled_from([0, 1, "fake"])),
    probability=st.one_of(one_value, st.floats(0, 1)),
    features=st.one_of(anything, good_rows),
    true_label=st.one_of(st.none(), one_value),
    prediction_id=st.one_of(st.none(), one_value, st.text(min_size=1, max_size=300)),
)
def test_record_prediction_succeeds_or_raises_a_monitor_error(
    prediction, probability, features, true_label, prediction_id
):
    monitor = _monitor()
    pid = _changes_nothing_on_error(
        monitor,
        lambda: monitor.record_prediction(
            prediction, probability, features, true_label, prediction_id
        ),
    )
    if pid is not None:
        assert isinstance(pid, str) and pid in monitor.store


def _batches(n: int) -> Any:
    return st.one_of(
        anything,
        st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n),
        st.lists(anything, min_size=n, max_size=n),
    )


@PROPERTY
@given(
    predictions=st.one_of(anything, st.lists(st.sampled_from([0, 1, "x"]), max_size=3)),
    probabilities=st.one_of(st.none(), _batches(2)),
    features=st.one_of(st.none(), anything, st.lists(good_rows, min_size=2, max_size=2)),
    true_labels=st.one_of(st.none(), _batches(2)),
    prediction_ids=st.one_of(st.none(), _batches(2), st.just(["a", "new"])),
)
def test_record_predictions_succeeds_or_raises_a_monitor_error(
    predictions, probabilities, features, true_labels, prediction_ids
):
    monitor = _monitor()
    ids = _changes_nothing_on_error(
        monitor,
        lambda: monitor.record_predictions(
            predictions, probabilities, features, true_labels, prediction_ids
        ),
    )
    if ids is not None:
        assert all(isinstance(pid, str) and pid in monitor.store for pid in ids)


@PROPERTY
@given(
    prediction_id=st.one_of(st.sampled_from(["a", "b", "unknown"]), one_value),
    true_label=st.one_of(st.sampled_from([0, 1, "fake"]), one_value),
)
def test_record_feedback_succeeds_or_raises_a_monitor_error(prediction_id, true_label):
    """Unknown ids (404 over HTTP) and already-labelled ones ("b"; labels are not
    overwritten, 409) are errors that change nothing."""
    monitor = _monitor()
    before = monitor.get_monitoring_status()["counts"]["feedback"]
    _changes_nothing_on_error(monitor, lambda: monitor.record_feedback(prediction_id, true_label))
    after = monitor.get_monitoring_status()["counts"]["feedback"]
    assert after - before in (0, 1)
    if not (isinstance(prediction_id, str) and prediction_id == "a"):
        assert after == before  # only "a" can take a label


# -- config ---------------------------------------------------------------------------------

OPTION_NAMES = sorted(MonitorConfig.__dataclass_fields__)
plausible_values = st.one_of(
    anything,
    st.integers(-5, 5000),
    st.floats(-1.0, 2.0),
    st.sampled_from([*DRIFT_BACKENDS, *FEATURE_CORRECTIONS, "local", "a_b", "x", ""]),
    st.sampled_from([float("inf"), -float("inf"), float("nan"), 10**400, 1e308]),
    st.fixed_dictionaries(
        {"last": st.integers(-2, 10**6)}, optional={"sigma": st.one_of(st.floats(), anything)}
    ),
)


@PROPERTY
@given(
    options=st.one_of(
        anything,
        st.dictionaries(st.sampled_from(OPTION_NAMES), plausible_values, max_size=5),
        st.dictionaries(st.text(max_size=12), plausible_values, max_size=2),
    )
)
def test_config_parsing_succeeds_or_raises_a_config_error(options):
    try:
        config = MonitorConfig.from_dict(options)
    except MonitorError as exc:
        assert str(exc)
        return
    json.dumps(config.to_dict())  # a valid config is JSON-serialisable
    for key in ("performance_check_minutes", "drift_check_minutes", "store_flush_seconds"):
        assert math.isfinite(getattr(config, key)), f"{key} accepted a non-finite value"


# Options that reach outside the process (a database, a tracking server) are left out here.
LOCAL_OPTIONS = [
    name for name in OPTION_NAMES if name not in ("store_uri", "log_checks", "tracking_uri")
]


@PROPERTY
@given(options=st.dictionaries(st.sampled_from(LOCAL_OPTIONS), plausible_values, max_size=4))
def test_create_monitor_succeeds_or_raises_a_config_error(options):
    try:
        monitor = create_monitor(options, registry=CollectorRegistry())
    except MonitorError:
        return
    monitor.get_monitoring_status()
    monitor.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("performance_check_minutes", float("inf")),
        ("drift_check_minutes", float("inf")),
        ("retraining_cooldown_minutes", float("inf")),
        ("store_flush_seconds", float("inf")),
        ("performance_threshold", float("nan")),
        ("drift_update_ref", {"last": 10, "sigma": float("inf")}),
    ],
    ids=["perf-minutes", "drift-minutes", "cooldown", "flush", "threshold-nan", "sigma-inf"],
)
def test_non_finite_numbers_are_refused_with_the_option_named(key, value):
    from mlflow_monitor import ConfigError

    with pytest.raises(ConfigError, match=key.split("[")[0]):
        MonitorConfig.from_dict({key: value})


# -- the scalar validators' former bugs (recording.py, performance.py) -----------------------
# Each raised a non-MonitorError (the exception named second); each must now be a MonitorError
# that leaves the monitor unchanged.

FORMER_BUGS = [
    pytest.param(
        lambda m: m.record_prediction(1, 0.5, features=np.array([1 + 2j, 0, 0])),
        np.exceptions.ComplexWarning,
        id="complex-features",
    ),
    pytest.param(
        lambda m: m.record_prediction(1, 0.5, features=[np.complex128(1j), 0.0, 0.0]),
        np.exceptions.ComplexWarning,
        id="complex-scalar-features",
    ),
    pytest.param(
        lambda m: m.record_prediction(np.array([0, 1])),
        ValueError,
        id="prediction-array",
    ),
    pytest.param(
        lambda m: m.record_prediction(1, np.array([0.1, 0.2])), ValueError, id="probability-array"
    ),
    pytest.param(
        lambda m: m.record_prediction(1, prediction_id=np.array(["x", "y"])),
        ValueError,
        id="id-array",
    ),
    pytest.param(lambda m: m.record_feedback("a", np.array([0, 1])), ValueError, id="label-array"),
    pytest.param(lambda m: m.record_feedback(pd.Series(["a", "b"]), 1), ValueError, id="id-series"),
    pytest.param(lambda m: m.record_prediction(1, 10**400), OverflowError, id="probability-huge"),
    pytest.param(
        lambda m: m.record_predictions([1], [10**400]), OverflowError, id="probabilities-huge"
    ),
]


def test_whole_float_labels_beyond_int64_are_kept_exactly():
    monitor = _monitor("multiclass")  # a binary monitor refuses any class but 0 and 1
    (pid,) = monitor.record_predictions(np.array([2.0**70]))
    assert monitor.store.get(pid).prediction == 2**70  # not wrapped to -2**63


@pytest.mark.parametrize(("call", "raised_before"), FORMER_BUGS)
def test_arrays_and_huge_numbers_are_refused_cleanly(call, raised_before):
    monitor = _monitor()
    before = _snapshot(monitor)
    try:
        call(monitor)
    except MonitorError:
        assert _snapshot(monitor) == before
        return
    except raised_before:
        pytest.fail(f"{raised_before.__name__} instead of a MonitorError")
    pytest.fail("accepted a value it should refuse")


# -- text a database cannot keep, huge ids, huge batches (issue #16) ------------------------

unstorable_ids = st.one_of(
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=4), st.text(max_size=4)),
    st.text(min_size=256, max_size=400),
    st.text(min_size=1, max_size=20),
)


_RUNS = itertools.count()


@pytest.fixture(scope="module")
def sql_monitor(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz-sql") / "inference.db"
    monitor = create_monitor(
        {"store_uri": f"sqlite:///{path}", "store_flush_seconds": 0.05, "random_seed": 0},
        registry=CollectorRegistry(),
    )
    yield monitor
    monitor.close()


@settings(PROPERTY, max_examples=150)
@given(
    ids=st.lists(unstorable_ids, min_size=1, max_size=30),
    size=st.sampled_from([1, 2, 500, 20_000]),
)
def test_a_sql_store_records_or_refuses_ids_and_never_drops(sql_monitor, ids, size):
    """Against a real SQLite store: a batch (up to 20,000 rows) whose ids hold lone
    surrogates, NUL characters or 256+ characters is refused whole with a MonitorError, or
    recorded whole; nothing recorded is ever dropped by the writer."""
    run = next(_RUNS)  # ids unique across examples too: a repeat would be rejected
    ids = [f"{run}:{i}:{v}" for i, v in enumerate(ids)]
    ids += [f"{run}:pad-{i}" for i in range(max(size - len(ids), 0))]
    store = sql_monitor.store
    held = store.counts().predictions
    try:
        recorded = sql_monitor.record_predictions(
            [1] * len(ids), [0.5] * len(ids), prediction_ids=ids
        )
    except MonitorError as exc:
        assert str(exc)
        assert store.flush(60) and store.counts().predictions == held
        return
    assert store.flush(60)
    counts = store.counts()
    assert counts.dropped == 0, "the writer dropped recorded predictions"
    assert counts.predictions == held + len(recorded)
