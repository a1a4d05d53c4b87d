from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import DataValidationError
from mlflow_monitor.model.outputs import infer_task, interpret_output


def test_probability_vector():
    predictions, probabilities = interpret_output(np.array([0.9, 0.2, 0.5]))
    assert predictions.tolist() == [1, 0, 1]
    assert probabilities.tolist() == [0.9, 0.2, 0.5]


def test_predict_proba_matrix_uses_the_positive_column():
    predictions, probabilities = interpret_output(np.array([[0.1, 0.9], [0.7, 0.3]]))
    assert predictions.tolist() == [1, 0] and probabilities.tolist() == [0.9, 0.3]


def test_custom_threshold_and_labels():
    predictions, _ = interpret_output([0.6, 0.8], threshold=0.7, labels=("real", "fake"))
    assert predictions.tolist() == ["real", "fake"]


@pytest.mark.parametrize(
    "output",
    [np.array([1, 0, 1]), np.array([1.0, 0.0, 1.0]), pd.Series([True, False, True])],
    ids=["int", "integral-float", "bool"],
)
def test_label_vectors(output):
    predictions, probabilities = interpret_output(output)
    assert predictions.tolist() == [1, 0, 1] and probabilities is None


def test_string_labels():
    predictions, probabilities = interpret_output(["fake", "real"])
    assert predictions.tolist() == ["fake", "real"] and probabilities is None


def test_dataframe_columns():
    frame = pd.DataFrame({"prediction": [1, 0], "probability": [0.8, 0.1], "extra": [5, 6]})
    predictions, probabilities = interpret_output(frame)
    assert predictions.tolist() == [1, 0] and probabilities.tolist() == [0.8, 0.1]
    only_probability = pd.DataFrame({"probability": [0.8, 0.1]})
    assert interpret_output(only_probability)[0].tolist() == [1, 0]
    single = pd.DataFrame({"score": [0.3, 0.6]})
    assert interpret_output(single)[0].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("output", "message"),
    [(np.array([2.5, -1.0]), "regression"), (np.zeros((2, 3)), "shape \\(2, 3\\)")],
    ids=["regression", "three-columns"],
)
def test_unreadable_outputs(output, message):
    with pytest.raises(DataValidationError, match=message):
        interpret_output(output)


@pytest.mark.parametrize(
    ("output", "task"),
    [
        (np.array([0.1, 0.8, 0.4]), "binary"),
        (np.array([[0.9, 0.1], [0.2, 0.8]]), "binary"),
        (np.array([0, 1, 1, 0]), "binary"),
        (np.array(["fake", "real", "fake"]), "binary"),
        (np.array([0, 1, 2, 1]), "multiclass"),
        (np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]), "multiclass"),
        (np.array(["a", "b", "c"]), "multiclass"),
        (np.array([12.5, 80.25, 3.0]), "regression"),
        (pd.DataFrame({"prediction": [1.5, -2.25]}), "regression"),
    ],
    ids=[
        "probabilities",
        "proba-matrix",
        "int-labels",
        "str-labels",
        "three-classes",
        "class-proba-matrix",
        "three-str-classes",
        "values",
        "frame-values",
    ],
)
def test_the_task_is_inferred_from_the_output(output, task):
    assert infer_task(output) == task


def test_multiclass_outputs_give_the_most_probable_class():
    matrix = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    labels, probabilities = interpret_output(matrix, task="multiclass", classes=("a", "b", "c"))
    assert labels.tolist() == ["a", "c"] and probabilities.tolist() == [0.7, 0.8]
    indices, _ = interpret_output(matrix, task="multiclass")
    assert indices.tolist() == [0, 2]
    assert interpret_output(np.array([2.0, 0.0]), task="multiclass")[0].tolist() == [2, 0]
    with pytest.raises(DataValidationError, match="not whole numbers"):
        interpret_output(np.array([0.5, 1.5]), task="multiclass")


def test_regression_outputs_are_values_without_probabilities():
    values, probabilities = interpret_output(np.array([[1.5], [2.0]]), task="regression")
    assert values.tolist() == [1.5, 2.0] and probabilities is None
    with pytest.raises(DataValidationError, match="one number per row"):
        interpret_output(np.array([["a"], ["b"]]), task="regression")
