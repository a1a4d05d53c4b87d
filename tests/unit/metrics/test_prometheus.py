from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlflow_monitor import (
    METRIC_DEFINITIONS,
    MonitorError,
    MonitorMetrics,
    create_monitor,
    start_metrics_server,
)

DOCUMENTED = {
    "fake_review_detection_precision": "gauge",
    "fake_review_detection_recall": "gauge",
    "fake_review_detection_accuracy": "gauge",
    "fake_review_detection_f1_score": "gauge",
    "fake_review_detection_drift_detected": "gauge",
    "fake_review_detection_drift_p_value": "gauge",
    "fake_review_detection_drift_distance": "gauge",
    # Issue #12: the alarm policy's state and the effect size.
    "fake_review_detection_drift_alarm": "gauge",
    "fake_review_detection_drift_evidence": "gauge",
    "fake_review_detection_drift_effect_size": "gauge",
    "fake_review_detection_monitoring_status": "gauge",
    "fake_review_detection_performance_degraded": "gauge",
    "fake_review_detection_retraining_triggered_total": "counter",
    "fake_review_detection_predictions_total": "counter",
    "fake_review_detection_feedback_total": "counter",
    # Named by the serving issue (#4): records the store's full queue dropped.
    "fake_review_detection_records_dropped_total": "counter",
    # Issue #6: rejected feedback is counted.
    "fake_review_detection_feedback_rejected_total": "counter",
    # Issue #16: predictions answered whose id was already recorded.
    "fake_review_detection_records_rejected_total": "counter",
    # The levels checks compare against, so dashboards and alerts need no constants.
    "fake_review_detection_baseline": "gauge",
    "fake_review_detection_performance_threshold": "gauge",
    "fake_review_detection_drift_p_value_threshold": "gauge",
    "fake_review_detection_store_file_lost": "gauge",
}

# The model and version labels of a monitor on the default options.
DEFAULT_LABELS = {"model": "default", "version": "0"}


def exposed_samples(text: str) -> dict[str, tuple[str, float]]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                samples[sample.name] = (family.type, sample.value)
    return samples


def test_exactly_the_documented_names_and_types(registry):
    metrics = MonitorMetrics("fake_review_detection", registry)
    metrics.set_baseline({"precision": 0.9})
    samples = exposed_samples(metrics.exposition().decode())
    assert {name: kind for name, (kind, _) in samples.items()} == DOCUMENTED
    assert {d.full_name("fake_review_detection") for d in METRIC_DEFINITIONS} == set(DOCUMENTED)


def test_two_monitors_with_their_own_prefixes_do_not_collide():
    reviews = create_monitor({"metrics_prefix": "reviews"})
    spam = create_monitor({"metrics_prefix": "spam"})
    reviews.record_prediction(1, 0.9)
    reviews.record_prediction(0, 0.1)
    spam.record_prediction(1, 0.7)
    assert reviews.prometheus_metrics.value("predictions") == 2
    assert spam.prometheus_metrics.value("predictions") == 1
    assert b"spam_" not in reviews.prometheus_metrics.exposition()


def test_same_prefix_twice_works_with_separate_registries():
    a, b = create_monitor(), create_monitor()
    a.record_prediction(1, 0.9)
    assert (
        a.prometheus_metrics.value("predictions"),
        b.prometheus_metrics.value("predictions"),
    ) == (1, 0)


def test_prometheus_off_means_no_metrics_object():
    monitor = create_monitor({"enable_prometheus": False})
    assert not monitor.prometheus_metrics
    monitor.record_prediction(1, 0.5)  # still records


def test_metrics_follow_recording_and_checks(registry, rng):
    monitor = create_monitor(
        {"drift_min_samples": 20, "performance_min_samples": 4, "random_seed": 0},
        registry=registry,
    )
    monitor.setup_drift_detection(rng.normal(size=(100, 2)))
    monitor.setup_performance_baseline({"precision": 1.0})
    ids = [monitor.record_prediction(1, 0.8, features=rng.normal(size=2) + 4) for _ in range(30)]
    for pid in ids[:4]:
        monitor.record_feedback(pid, 0)
    monitor.check_drift()
    monitor.check_performance()
    samples = exposed_samples(monitor.prometheus_metrics.exposition().decode())
    value = {name: v for name, (_, v) in samples.items()}
    assert value["fake_review_detection_predictions_total"] == 30
    assert value["fake_review_detection_feedback_total"] == 4
    assert value["fake_review_detection_drift_detected"] == 1
    assert value["fake_review_detection_drift_p_value"] < 0.05
    assert value["fake_review_detection_drift_distance"] > 0
    assert value["fake_review_detection_precision"] == 0.0
    assert value["fake_review_detection_performance_degraded"] == 1
    assert value["fake_review_detection_retraining_triggered_total"] == 2


def test_metrics_server_serves_the_registry_over_http(registry):
    monitor = create_monitor({"metrics_prefix": "served"}, registry=registry)
    monitor.record_prediction(1, 0.9)
    server, thread = start_metrics_server(monitor.prometheus_metrics, port=0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        body = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert exposed_samples(body)["served_predictions_total"] == ("counter", 1.0)


def test_monitoring_status_gauge(registry):
    monitor = create_monitor({"performance_check_minutes": 60}, registry=registry)
    gauge = "fake_review_detection_monitoring_status"
    assert registry.get_sample_value(gauge, DEFAULT_LABELS) == 0
    monitor.start_monitoring()
    try:
        assert registry.get_sample_value(gauge, DEFAULT_LABELS) == 1
    finally:
        monitor.stop_monitoring()
    assert registry.get_sample_value(gauge, DEFAULT_LABELS) == 0


@pytest.mark.parametrize("definition", METRIC_DEFINITIONS, ids=lambda d: d.suffix)
def test_every_metric_has_help_text(definition):
    assert len(definition.help) > 10


def test_check_results_are_unknown_before_the_first_check(registry):
    import math

    create_monitor(registry=registry)
    for suffix in (
        "precision",
        "recall",
        "accuracy",
        "f1_score",
        "drift_p_value",
        "drift_distance",
    ):
        assert math.isnan(
            registry.get_sample_value(f"fake_review_detection_{suffix}", DEFAULT_LABELS)
        ), suffix
    assert registry.get_sample_value("fake_review_detection_drift_detected", DEFAULT_LABELS) == 0


def test_records_the_store_dropped_are_counted_once(tmp_path):
    from mlflow_monitor.monitor.monitor import ModelMonitor
    from mlflow_monitor.store.sql.store import SqlInferenceStore

    store = SqlInferenceStore(
        f"sqlite:///{tmp_path}/s.db", queue_size=10, put_timeout=0.0, flush_seconds=60
    )
    monitor = ModelMonitor({"metrics_prefix": "drops"}, store=store)
    try:
        monitor.record_predictions([1] * 25, [0.9] * 25)  # 10 fit in the queue
        dropped = store.counts().dropped
        assert dropped == 15
        assert monitor.prometheus_metrics.value("records_dropped") == dropped
        monitor.export_store_counters()  # nothing new: nothing added
        assert monitor.prometheus_metrics.value("records_dropped") == dropped
    finally:
        monitor.close()
        store.close()


def test_rejected_feedback_is_counted(registry):
    monitor = create_monitor(registry=registry)
    pid = monitor.record_prediction(1, 0.9)
    monitor.record_feedback(pid, 1)
    for bad in (("nope", 1), (pid, 0), (pid, 1.5)):
        with pytest.raises(MonitorError):
            monitor.record_feedback(*bad)
    assert monitor.prometheus_metrics.value("feedback_rejected") == 3
    assert monitor.prometheus_metrics.value("feedback") == 1


def test_series_carry_the_model_version_and_its_levels(registry):
    monitor = create_monitor(
        {
            "model_name": "reviews",
            "model_version": "2",
            "drift_p_value": 0.01,
            "performance_threshold": 0.15,
        },
        registry=registry,
    )
    monitor.setup_performance_baseline({"precision": 0.9, "recall": 0.8})
    monitor.record_prediction(1, 0.9)
    labels = {"model": "reviews", "version": "2"}
    prefix = "fake_review_detection"
    assert registry.get_sample_value(f"{prefix}_predictions_total", labels) == 1
    assert registry.get_sample_value(f"{prefix}_drift_p_value_threshold", labels) == 0.01
    assert registry.get_sample_value(f"{prefix}_performance_threshold", labels) == 0.15
    for metric, value in (("precision", 0.9), ("recall", 0.8)):
        assert (
            registry.get_sample_value(f"{prefix}_baseline", {**labels, "metric": metric}) == value
        )
    families = {
        f.name: f
        for f in text_string_to_metric_families(monitor.prometheus_metrics.exposition().decode())
    }
    for family in families.values():
        for sample in family.samples:
            assert sample.labels["model"] == "reviews" and sample.labels["version"] == "2"
