"""Behaviour every inference store shares, run against the in-memory and the SQLite store."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import FeedbackError, UnknownPredictionError
from mlflow_monitor.store.interface import PredictionBatch, StoreCounts, as_list, feature_rows
from mlflow_monitor.store.memory import InMemoryStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryStore(capacity=1000, window_size=100)
        return
    from mlflow_monitor.store.sql.store import SqlInferenceStore

    with SqlInferenceStore(f"sqlite:///{tmp_path}/store.db", "reviews", "3") as sql:
        yield sql


def batch(ids, predictions=None, true_labels=None, features=None, probabilities=None):
    n = len(ids)
    return PredictionBatch(
        prediction_ids=list(ids),
        predictions=list(predictions) if predictions is not None else [1] * n,
        probabilities=list(probabilities) if probabilities is not None else [0.5] * n,
        true_labels=true_labels,
        features=features,
    )


def test_labels_join_predictions_and_form_the_window_in_arrival_order(store):
    store.add(batch(["a", "b", "c"], predictions=[1, 0, 1]))
    store.add(batch(["d"], predictions=[0], true_labels=[0]))  # label known at prediction time
    record = store.label("b", 1)
    assert (record.prediction_id, record.prediction, record.true_label) == ("b", 0, 1)
    assert record.probability == 0.5
    store.label("a", 1)
    assert store.labelled_window(10) == [(0, 0), (0, 1), (1, 1)]
    assert store.labelled_window(2) == [(0, 1), (1, 1)]
    counts = store.counts()
    assert (counts.predictions, counts.labels) == (4, 3)


def test_labels_are_counted_among_the_most_recent_predictions(store):
    store.add(batch(["a", "b", "c"], true_labels=[1, None, None]))  # labelled when predicted
    for i in range(5):  # small batches: appended to one growing block in memory
        store.add(batch([f"s{i}"]))
    store.add(batch(["x", "y"]))
    assert store.labelled_among_recent(10) == 1
    store.label("s4", 0)
    store.label("y", 1)
    assert store.labelled_among_recent(2) == 1  # x, y
    assert store.labelled_among_recent(3) == 2  # s4, x, y
    assert store.labelled_among_recent(7) == 2  # not yet "a"
    assert store.labelled_among_recent(100) == 3
    assert store.labelled_among_recent(0) == 0


def test_int_and_str_labels_keep_their_type(store):
    store.add(batch(["a", "b"], predictions=["fake", 1]))
    store.label("a", "1")
    store.label("b", 1)
    assert store.labelled_window(5) == [("fake", "1"), (1, 1)]


def test_unknown_and_repeated_labels_are_refused(store):
    store.add(batch(["a"]))
    with pytest.raises(UnknownPredictionError, match="unknown prediction_id 'nope'"):
        store.label("nope", 1)
    store.label("a", 0)
    with pytest.raises(FeedbackError, match="'a' already has true_label 0; labels are not"):
        store.label("a", 1)
    assert store.labelled_window(5) == [(1, 0)]


def test_take_features_waits_for_min_rows_then_consumes_once(store, rng):
    rows = rng.normal(size=(5, 3))
    store.add(batch("abc", features=rows[:3]))
    assert store.pending_features() == 3
    assert store.take_features(4, 10) is None  # nothing consumed
    store.add(batch("de", features=rows[3:]))
    taken = store.take_features(4, 10)
    np.testing.assert_array_equal(np.vstack(taken), rows)
    assert store.pending_features() == 0
    assert store.take_features(1, 10) is None


def test_take_features_keeps_the_most_recent_max_rows(store, rng):
    rows = rng.normal(size=(6, 2))
    store.add(batch("abcdef", features=rows))
    taken = store.take_features(2, 4)
    np.testing.assert_array_equal(np.vstack(taken), rows[2:])
    assert store.pending_features() == 0  # the older rows were consumed too


def test_predictions_without_features_add_no_drift_rows(store, rng):
    store.add(batch(["a", "b"]))
    store.add(batch(["c"], features=rng.normal(size=(1, 2))))
    assert store.pending_features() == 1


def test_raw_features_round_trip(store):
    raw = ["great blender!!!", {"text": "meh", "stars": 2}]
    store.add(batch(["a", "b"], features=raw))
    assert store.take_features(2, 10) == raw


def test_empty_store(store):
    assert store.counts() == StoreCounts(0, 0)
    assert store.labelled_window(10) == []
    assert store.take_features(1, 10) is None
    assert store.flush(timeout=1)


def test_in_memory_store_refuses_repeated_ids_and_changes_nothing():
    store = InMemoryStore()
    store.add(batch(["a"]))
    with pytest.raises(FeedbackError, match="'a' was already recorded"):
        store.add(batch(["b", "a"], features=np.ones((2, 2))))
    with pytest.raises(FeedbackError, match="'c' was already recorded"):
        store.add(batch(["c", "c"]))
    assert len(store) == 1 and store.pending_features() == 0


def test_in_memory_store_is_bounded():
    store = InMemoryStore(capacity=3, window_size=2, labelled_size=2)
    store.add(batch("abcde", true_labels=[0, 1, 0, 1, 0], features=np.eye(5)))
    assert len(store) == 3 and store.evicted == 2 and "a" not in store
    assert store.counts() == StoreCounts(3, 3)
    assert store.labelled_window(10) == [(1, 1), (1, 0)]
    np.testing.assert_array_equal(np.vstack(store.take_features(1, 10)), np.eye(5)[3:])
    with pytest.raises(UnknownPredictionError, match="older than the last 3 predictions"):
        store.label("a", 1)


class ReferenceStore:
    """The in-memory store's behaviour written plainly, one record per prediction."""

    def __init__(self, capacity, window_size):
        from collections import OrderedDict, deque

        self.capacity = capacity
        self.records = OrderedDict()
        self.labelled = deque(maxlen=capacity)
        self.window = deque(maxlen=window_size)

    def add(self, batch):
        ids = as_list(batch.prediction_ids)
        if len(set(ids)) != len(ids) or any(pid in self.records for pid in ids):
            raise FeedbackError("repeated")
        for record in batch.records():
            self.records[record.prediction_id] = record
            if record.true_label is not None:
                self.labelled.append((record.prediction, record.true_label))
        while len(self.records) > self.capacity:
            self.records.popitem(last=False)
        self.window.extend(feature_rows(batch.features))

    def label(self, pid, truth):
        record = self.records.get(pid)
        if record is None:
            raise UnknownPredictionError(pid)
        if record.true_label is not None:
            raise FeedbackError(pid)
        record.true_label = truth
        self.labelled.append((record.prediction, truth))
        return record

    def take(self, min_rows, max_rows):
        if len(self.window) < min_rows:
            return None
        rows = list(self.window)[-max_rows:]
        self.window.clear()
        return rows

    def counts(self):
        labels = sum(r.true_label is not None for r in self.records.values())
        return StoreCounts(len(self.records), labels)


def _random_batch(rng, n, client_ids):
    from mlflow_monitor.store.ids import GeneratedIds

    ids = [f"client-{next(client_ids)}" for _ in range(n)] if rng.random() < 0.4 else None
    predictions = rng.integers(0, 2, n)
    probabilities = rng.random(n) if rng.random() < 0.7 else [None] * n
    true_labels = None
    if rng.random() < 0.3:
        true_labels = [None if rng.random() < 0.5 else int(v) for v in rng.integers(0, 2, n)]
    features = None
    if rng.random() < 0.8:
        features = np.array([[f"t{i}", i] for i in range(n)], dtype=object)
    return PredictionBatch(
        prediction_ids=ids if ids is not None else GeneratedIds.new(n),
        predictions=predictions if rng.random() < 0.5 else predictions.tolist(),
        probabilities=probabilities,
        true_labels=true_labels,
        features=features,
    )


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed={s}")
def test_in_memory_store_behaves_as_one_record_per_prediction(seed):
    """Random batches (one row to several hundred, generated and client ids), labels
    (held, evicted, unknown, repeated) and window takes give the same results as the plain
    one-record-per-prediction model, across partial and whole-block evictions."""
    from itertools import count

    rng = np.random.default_rng(seed)
    capacity, window = 300, 50
    store, reference = (
        InMemoryStore(capacity=capacity, window_size=window),
        ReferenceStore(capacity, window),
    )
    client_ids, seen = count(), []
    for step in range(500):
        action = rng.random()
        if action < 0.5:
            n = int(rng.choice([1, 1, 2, 7, 64, 65, 130, 400]))
            batch = _random_batch(rng, n, client_ids)
            reference.add(batch)
            if n == 1 and rng.random() < 0.5:
                label = None if batch.true_labels is None else batch.true_labels[0]
                store.add_one(
                    batch.prediction_ids[0],
                    as_list(batch.predictions)[0],
                    as_list(batch.probabilities)[0],
                    label,
                    batch.features,
                    batch.timestamp,
                )
            else:
                store.add(batch)
            seen.extend(batch.prediction_ids)
        elif action < 0.85 and seen:
            pid = seen[int(rng.integers(len(seen)))] if rng.random() < 0.9 else "unknown"
            truth = int(rng.integers(0, 2))
            try:
                expected = reference.label(pid, truth).to_list()
            except (UnknownPredictionError, FeedbackError) as exc:
                with pytest.raises(type(exc)):
                    store.label(pid, truth)
            else:
                assert store.label(pid, truth).to_list() == expected
        else:
            low, high = int(rng.integers(0, 60)), int(rng.integers(1, 60))
            assert store.take_features(low, high) == reference.take(low, high)
        assert store.counts() == reference.counts(), step
        assert len(store) == len(reference.records)
        if step % 25 == 0:
            assert [r.to_list() for r in store.records()] == [
                r.to_list() for r in reference.records.values()
            ]
            assert store.labelled_window(capacity) == list(reference.labelled)
            assert store.peek_features() == list(reference.window)
    assert store.evicted == sum(1 for _ in seen) - len(store)


def test_an_id_chosen_like_a_generated_one_is_refused():
    from mlflow_monitor.store.ids import GeneratedIds

    store = InMemoryStore()
    generated = GeneratedIds.new(500)
    store.add(PredictionBatch(generated, np.ones(500, dtype=int), np.full(500, 0.5)))
    with pytest.raises(FeedbackError, match=repr(generated[7])):
        store.add(batch(["mine", generated[7]]))
    assert len(store) == 500 and "mine" not in store
    store.add(batch(["mine"]))
    assert generated[499] in store and store.get(generated[499]).prediction == 1


def test_numpy_columns_are_stored_as_plain_python_values():
    from mlflow_monitor.store.ids import GeneratedIds

    store = InMemoryStore()
    ids = GeneratedIds.new(100)
    store.add(PredictionBatch(ids, np.array(["fake"] * 100), np.linspace(0, 1, 100), features=None))
    record = store.label(ids[1], "real")
    assert type(record.prediction) is str and type(record.probability) is float
    assert store.labelled_window(1) == [("fake", "real")]


def test_add_one_refuses_a_held_id():
    store = InMemoryStore()
    store.add(batch(["a"]))
    with pytest.raises(FeedbackError, match="'a' was already recorded"):
        store.add_one("a", 1, 0.5, None, None, 0.0)
    store.add_one("b", 0, None, 1, [["raw"]], 0.0)
    assert store.counts() == StoreCounts(2, 1)
    assert store.peek_features() == [["raw"]]


def test_a_batch_slices_into_batches_of_the_same_rows():
    from mlflow_monitor.store.ids import GeneratedIds

    whole = PredictionBatch(
        GeneratedIds.new(10),
        np.arange(10),
        np.linspace(0, 1, 10),
        [None, 1] * 5,
        np.array([[str(i)] for i in range(10)], dtype=object),
    )
    head, tail = whole[:4], whole[4:]
    assert isinstance(head.prediction_ids, GeneratedIds)
    assert [len(head), len(tail)] == [4, 6] and tail.timestamp == whole.timestamp
    assert [r.to_list() for r in head.records()] + [r.to_list() for r in tail.records()] == [
        r.to_list() for r in whole.records()
    ]
    assert feature_rows(head.features) + feature_rows(tail.features) == [
        [str(i)] for i in range(10)
    ]
    assert (head.n_labels, tail.n_labels) == (2, 3)


def test_the_in_memory_store_keeps_recent_checks_for_timelines():
    from mlflow_monitor.store.interface import CHECKS_KEPT

    store = InMemoryStore()
    for i in range(CHECKS_KEPT + 3):
        store.record_check({"kind": "drift" if i % 2 else "performance", "status": "ok", "i": i})
    history = store.check_history(limit=4)
    assert [c["i"] for c in history] == list(range(CHECKS_KEPT - 1, CHECKS_KEPT + 3))
    assert len(store.check_history(limit=10_000)) == CHECKS_KEPT
    assert store.check_history(limit=0) == []
    assert store.last_checks()["performance"]["i"] == CHECKS_KEPT + 2  # even: performance
