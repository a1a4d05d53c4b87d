from __future__ import annotations

import pytest

from mlflow_monitor import ConfigError, MonitorConfig, create_monitor

DOCUMENTED_DEFAULTS = {
    "performance_window_size": 1000,
    "performance_threshold": 0.05,
    "performance_check_minutes": 10,
    "drift_p_value": 0.05,
    "drift_check_minutes": 30,
    "drift_update_ref": {"last": 1000, "sigma": 1.0},
    "metrics_prefix": "fake_review_detection",
    "enable_drift_detection": True,
    "enable_performance_tracking": True,
    "enable_prometheus": True,
    "retraining_callback": None,
}


def test_documented_defaults():
    config = MonitorConfig.from_dict(None)
    for key, value in DOCUMENTED_DEFAULTS.items():
        assert getattr(config, key) == value, key


def test_every_documented_option_is_accepted():
    def callback(reason, details):
        return None

    options = dict(DOCUMENTED_DEFAULTS, retraining_callback=callback)
    config = MonitorConfig.from_dict(options)
    assert config.retraining_callback is callback
    assert config.to_dict()["retraining_callback"].endswith("callback")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"drift_p_value": 1.5}, "drift_p_value must be a number in (0.0, 1.0), got 1.5"),
        ({"drift_p_value": "0.05"}, "drift_p_value"),
        ({"performance_window_size": 0}, "performance_window_size must be an integer >= 1"),
        ({"performance_window_size": True}, "performance_window_size"),
        ({"performance_window_size": 10.0}, "got 10.0"),
        ({"performance_threshold": 0}, "performance_threshold"),
        ({"drift_check_minutes": -1}, "drift_check_minutes"),
        ({"metrics_prefix": "bad-prefix"}, "metrics_prefix"),
        ({"enable_prometheus": "yes"}, "enable_prometheus must be True or False, got 'yes'"),
        ({"retraining_callback": 42}, "retraining_callback"),
        ({"drift_update_ref": {"last": 1}}, "drift_update_ref['last'] must be an integer >= 2"),
        ({"drift_update_ref": {"last": 10, "sigma": 0}}, "drift_update_ref['sigma']"),
        ({"drift_update_ref": {"first": 10}}, "unknown key 'first'"),
        ({"drift_update_ref": 5}, "drift_update_ref must be a dict"),
        ({"drift_backend": "torch"}, "drift_backend must be one of 'builtin', 'alibi-detect'"),
        ({"drift_dtype": "float16"}, "drift_dtype must be one of 'float64', 'float32', got"),
        ({"drift_dtype": None}, "drift_dtype must be one of 'float64', 'float32', got None"),
        (
            {"drift_backend": "alibi-detect", "drift_dtype": "float32"},
            "drift_dtype='float32' applies to the builtin drift backend only",
        ),
        ({"drift_min_samples": 500, "drift_window_size": 100}, "must not exceed"),
        ({"random_seed": -1}, "random_seed"),
        ({"store_uri": "mysql://db"}, "store_uri must be None or a SQLAlchemy URL of a sqlite"),
        ({"store_uri": "sqlite://"}, "store_uri must be a SQLite file other processes can open"),
        ({"store_uri": "sqlite:///:memory:"}, "SQLite file"),
        ({"store_uri": "postgres://u:pw@h/db"}, "got 'postgres://u:***@h/db'"),
        ({"model_name": ""}, "model_name must be a non-empty string of at most 255 characters"),
        ({"model_version": 3}, "model_version must be a non-empty string"),
        ({"store_batch_size": 0}, "store_batch_size must be an integer >= 1"),
        ({"store_flush_seconds": 0}, "store_flush_seconds must be a number in (0.0, inf)"),
        ({"store_queue_size": 1.5}, "store_queue_size must be an integer >= 1"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_bad_values_name_key_value_and_allowed(options, fragment):
    with pytest.raises(ConfigError) as info:
        create_monitor(options)
    assert fragment in str(info.value)


def test_unknown_key_suggests_the_close_option():
    with pytest.raises(ConfigError, match=r"unknown config option 'drift_pvalue'.*drift_p_value"):
        create_monitor({"drift_pvalue": 0.01})


def test_config_must_be_a_dict():
    with pytest.raises(ConfigError, match="config must be a dict"):
        create_monitor([("drift_p_value", 0.01)])  # type: ignore[arg-type]


def test_update_ref_none_keeps_whole_reference():
    config = MonitorConfig.from_dict({"drift_update_ref": None})
    assert config.reference_size is None
    assert config.bandwidth_scale == 1.0


def test_drift_dtype_defaults_to_float64_and_accepts_float32():
    assert MonitorConfig.from_dict(None).drift_dtype == "float64"
    config = MonitorConfig.from_dict({"drift_dtype": "float32"})
    assert config.drift_dtype == "float32"
    assert config.to_dict()["drift_dtype"] == "float32"


def test_store_options_default_to_the_in_process_store():
    config = MonitorConfig.from_dict(None)
    assert config.store_uri is None
    assert (config.model_name, config.model_version) == ("default", "0")
    assert (config.store_batch_size, config.store_flush_seconds, config.store_queue_size) == (
        500,
        1.0,
        100_000,
    )


def test_a_store_password_never_leaves_the_config():
    config = MonitorConfig.from_dict({"store_uri": "postgresql+psycopg://ops:s3cr@t@db/monitoring"})
    assert config.to_dict()["store_uri"] == "postgresql+psycopg://ops:***@db/monitoring"
    assert "s3cr" not in str(config.to_dict())


def test_p_value_the_permutation_test_cannot_reach_is_refused():
    with pytest.raises(ConfigError, match=r"drift_p_value=0.005 can never be reached with 100"):
        create_monitor({"drift_p_value": 0.005})
    create_monitor({"drift_p_value": 0.005, "drift_n_permutations": 500})
