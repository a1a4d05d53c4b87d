"""Mixed tabular input: column kinds, the per-kind tests named after the input columns, and
the numeric encoding the multivariate test reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.drift.column_tests import category_test, number_test
from mlflow_monitor.drift.columns import column_kinds, needs_column_kinds
from mlflow_monitor.drift.tabular import TabularEncoder
from mlflow_monitor.exceptions import ConfigError

WORDS = ["good", "bad", "great", "fine", "ok", "awful", "nice", "cheap", "solid", "broken"]


def mixed(n: int, seed: int, colors=("red", "blue", "green"), words=WORDS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "price": rng.normal(10, 2, n),
            "color": rng.choice(list(colors), n),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
            "gift": rng.random(n) < 0.3,
            "ordered": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "h"),
            "review": [" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(n)],
        }
    )
    frame.loc[frame.index[::10], "price"] = np.nan
    return frame


@pytest.fixture(scope="module")
def encoder() -> TabularEncoder:
    return TabularEncoder().fit(mixed(600, seed=0))


def test_kinds_are_inferred_and_overridable():
    frame = mixed(50, seed=1)
    assert column_kinds(frame) == {
        "price": "numeric",
        "color": "categorical",
        "size": "categorical",
        "gift": "categorical",
        "ordered": "datetime",
        "review": "text",
    }
    assert column_kinds(frame, {"price": "categorical"})["price"] == "categorical"
    with pytest.raises(ConfigError, match="names column 'nope'"):
        column_kinds(frame, {"nope": "numeric"})
    with pytest.raises(ConfigError, match="must be one of 'numeric'"):
        column_kinds(frame, {"price": "ordinal"})
    assert needs_column_kinds(frame) and not needs_column_kinds(frame[["price"]].fillna(0))


def test_the_same_distribution_flags_nothing_and_names_the_input_columns(encoder):
    results = encoder.column_tests(mixed(300, seed=2), p_val=0.05, correction="bonferroni")
    names = [r.name for r in results]
    assert names == [
        "price",
        "color",
        "size",
        "gift",
        "ordered",
        "review.text.length",
        "review.text.words",
        "review.text.oov_share",
        "review.text.non_letter_share",
    ]
    assert not any(r.drift_detected for r in results)
    assert all(r.effect_size is not None and r.effect_size < 0.2 for r in results)
    assert {r.name: r.test for r in results}["color"] == "chi2"


def test_a_new_category_and_shifted_values_are_found_and_counted(encoder):
    current = mixed(300, seed=3, colors=("red", "purple"), words=[*WORDS, "scam", "fraud"])
    current["price"] = current["price"] + 3
    results = {r.name: r for r in encoder.column_tests(current, 0.05, "bonferroni")}
    color = results["color"]
    assert color.drift_detected and color.kind == "categorical"
    assert color.unseen_share == pytest.approx((current["color"] == "purple").mean())
    assert 0.3 < color.effect_size <= 1.0  # Jensen-Shannon distance
    price = results["price"]
    assert price.drift_detected and price.effect_size == pytest.approx(1.5, abs=0.4)
    # the effect the alarm weighs against drift_min_effect is the same measure
    assert price.effect == price.effect_size and color.effect == color.effect_size
    oov = results["review.text.oov_share"]
    assert oov.drift_detected and {"scam", "fraud"} <= set(oov.changed_tokens)
    assert not results["size"].drift_detected


def test_rows_of_any_form_with_missing_and_odd_values_are_encoded(encoder):
    rows = [
        {"price": None, "color": "never-seen", "size": None, "gift": None, "ordered": None},
        {"price": "not a number", "color": 7, "review": None, "extra": 1},
        [float("nan"), "red", "S", True, "2026-01-05T10:00:00", "good fine ok"],
    ]
    matrix = encoder.transform(rows)
    assert matrix.shape == (3, len(encoder.feature_names_))
    assert np.isfinite(matrix).all()
    assert "price.missing" in encoder.feature_names_ and "color=<other>" in encoder.feature_names_
    results = encoder.column_tests(rows * 10, 0.05, "holm")
    assert len(results) == 9


def test_high_cardinality_is_capped():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"user": [f"u{i}" for i in rng.integers(0, 5000, 800)]})
    encoder = TabularEncoder(max_categories=10).fit(frame)
    assert len(encoder.feature_names_) == 11  # ten kept categories and <other>
    (result,) = encoder.column_tests(frame.sample(200, random_state=0), 0.05, "bonferroni")
    assert not result.drift_detected and result.unseen_share == 0.0


def test_the_encoder_survives_json(encoder):
    again = TabularEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    batch = mixed(100, seed=5)
    np.testing.assert_array_equal(again.transform(batch), encoder.transform(batch))
    assert again.column_tests(batch, 0.05, "fdr") == encoder.column_tests(batch, 0.05, "fdr")


def test_the_kind_tests_agree_with_scipy():
    from scipy.stats import chi2_contingency, ks_2samp

    rng = np.random.default_rng(6)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, size=200)
    test = number_test(a, np.append(b, np.nan))
    assert test.p_value == pytest.approx(ks_2samp(a, b).pvalue)
    result = category_test({"x": 60, "y": 40}, {"x", "y"}, ["x"] * 30 + ["y"] * 50 + [None])
    expected = chi2_contingency(np.array([[60, 40], [30, 50]]), correction=False)
    assert result.p_value == pytest.approx(expected.pvalue)
