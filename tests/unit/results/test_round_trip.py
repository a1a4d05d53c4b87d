"""Results survive ``to_dict()``, JSON and ``from_dict()`` unchanged, missing optional numbers
included; dictionaries written before a field existed read back with its default."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mlflow_monitor.results import (
    CheckResult,
    ColumnQuality,
    DataQualityResult,
    DriftResult,
    FeatureDrift,
)
from mlflow_monitor.results.parsing import float_map, optional_float
from tests.support.check_runs import T0, drift_check


def _json(data):
    return json.loads(json.dumps(data))


def _drift(features, mmd_p_value):
    """The drift result of the check-run tests, with other features and MMD p-value."""
    drift = drift_check(0).drift
    return dataclasses.replace(drift, features=tuple(features), mmd_p_value=mmd_p_value)


FEATURES = {
    "numbers-missing": FeatureDrift("price", 0.4, 0.001, 0.002, True),
    "numbers-given": FeatureDrift(
        "color",
        0.2,
        0.03,
        0.06,
        False,
        kind="categorical",
        test="chi2",
        effect_size=0.25,
        effect_size_name="jensen_shannon",
        unseen_share=0.125,
        changed_tokens={"red": 0.5, "blue": -0.25},
        effect=1.5,
        mean_shift=-0.5,
    ),
    "zeros": FeatureDrift("n", 0.0, 1.0, 1.0, False, effect_size=0.0, unseen_share=0.0),
}


@pytest.mark.parametrize("feature", FEATURES.values(), ids=FEATURES.keys())
def test_feature_drift_round_trips(feature):
    again = FeatureDrift.from_dict(_json(feature.to_dict()))
    assert again == feature
    assert type(again.effect_size) is type(feature.effect_size)
    assert type(again.unseen_share) is type(feature.unseen_share)


@pytest.mark.parametrize("mmd_p_value", [None, 0.0, 0.02], ids=["missing", "zero", "given"])
def test_drift_result_round_trips(mmd_p_value):
    result = _drift(FEATURES.values(), mmd_p_value)
    assert DriftResult.from_dict(_json(result.to_dict())) == result


COLUMNS = {
    "missing": ColumnQuality("text", "text", 0.1, 0.0),
    "given": ColumnQuality(
        "price", "numeric", 0.0, 0.05, out_of_range_share=0.2, unseen_share=None
    ),
    "zeros": ColumnQuality("color", "categorical", 0.0, 0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("column", COLUMNS.values(), ids=COLUMNS.keys())
def test_column_quality_round_trips(column):
    assert ColumnQuality.from_dict(_json(column.to_dict())) == column


def test_a_check_with_drift_and_quality_round_trips():
    quality = DataQualityResult(50, tuple(COLUMNS.values()), timestamp=T0)
    result = CheckResult(
        "drift", "drift", drift=_drift(FEATURES.values(), None), timestamp=T0, quality=quality
    )
    assert CheckResult.from_dict(_json(result.to_dict())) == result


def test_older_dicts_read_back_with_defaults():
    feature = FEATURES["numbers-given"].to_dict()
    for key in ("effect_size", "unseen_share", "changed_tokens"):
        feature.pop(key, None)
    again = FeatureDrift.from_dict(feature)
    assert (again.effect_size, again.unseen_share, again.changed_tokens) == (None, None, {})
    column = COLUMNS["given"].to_dict()
    del column["out_of_range_share"], column["unseen_share"]
    assert ColumnQuality.from_dict(column).out_of_range_share is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, 0.0), (1, 1.0), ("0.5", 0.5), (2.5, 2.5)],
    ids=["none", "zero", "int", "text", "float"],
)
def test_optional_float(value, expected):
    got = optional_float(value)
    assert got == expected
    assert got is None or type(got) is float


def test_float_map_makes_keys_text_and_values_floats():
    assert float_map({1: 2, "a": "0.5"}) == {"1": 2.0, "a": 0.5}
    assert float_map(None) == {}
    with pytest.raises(ValueError):
        float_map({"a": "not a number"})
