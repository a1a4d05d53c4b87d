from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import ConfigError, DataValidationError
from mlflow_monitor.drift.extraction import FeatureExtractor, resolve_callable
from tests.support.reviews import make_reviews, train_pipeline


def word_counts(frame):
    """Importable preprocess function used by the tests."""
    return np.array([[len(t.split()), t.count("wow")] for t in frame["text"]], dtype=float)


def test_numeric_columns_are_used_as_they_are():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "text": ["x", "y", "z"]})
    extractor = FeatureExtractor()
    features = extractor.fit(frame)
    assert extractor.kind_ == "numeric" and extractor.feature_names_ == ["a", "b"]
    np.testing.assert_array_equal(features, frame[["a", "b"]].to_numpy(dtype=float))


def test_pipeline_transform_steps_are_projected():
    reviews = make_reviews(300, seed=0)
    pipeline = train_pipeline(reviews)
    extractor = FeatureExtractor(max_features=8)
    features = extractor.fit(reviews[["text"]], pipeline)
    assert extractor.kind_ == "pipeline"
    assert features.shape == (300, 8)
    tfidf = pipeline[:-1].transform(reviews[["text"]].head(5))
    np.testing.assert_allclose(
        extractor.transform(reviews[["text"]].head(5)), tfidf @ extractor.projection_
    )


def test_function_by_import_path():
    reviews = make_reviews(20, seed=0)
    extractor = FeatureExtractor(preprocess_fn="tests.unit.drift.test_extraction:word_counts")
    features = extractor.fit(reviews[["text"]])
    assert extractor.kind_ == "function" and features.shape == (20, 2)


def test_save_and_load_round_trip(tmp_path):
    reviews = make_reviews(200, seed=0)
    pipeline = train_pipeline(reviews)
    extractor = FeatureExtractor(max_features=4)
    extractor.fit(reviews[["text"]], pipeline)
    extractor.save(tmp_path)
    loaded = FeatureExtractor.load(tmp_path, pipeline)
    batch = reviews[["text"]].head(7)
    np.testing.assert_array_equal(loaded.transform(batch), extractor.transform(batch))
    assert loaded.feature_names_ == extractor.feature_names_


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon", "must look like"),
        ("no_such_module_xyz:f", "cannot import"),
        ("os:no_such_function", "does not name a callable"),
    ],
    ids=["format", "module", "attribute"],
)
def test_resolve_callable_errors(path, message):
    with pytest.raises(ConfigError, match=message):
        resolve_callable(path)


def test_text_without_a_way_to_featurise_is_explained():
    with pytest.raises(DataValidationError, match="no numeric columns"):
        FeatureExtractor().fit(pd.DataFrame({"text": ["a", "b"]}))


def test_pipeline_kind_needs_a_pipeline():
    with pytest.raises(ConfigError, match="needs a scikit-learn Pipeline"):
        FeatureExtractor(kind="pipeline").fit(pd.DataFrame({"a": [1.0, 2.0]}), object())
