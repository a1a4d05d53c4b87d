"""The example review detector for tests: ``examples/reviews_data.py`` (synthetic fake-review
data, a TF-IDF + logistic regression pipeline, logging and evaluating it), loaded from its file,
and :func:`wrap_example`, which logs and wraps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.paths import EXAMPLES, load_script

if TYPE_CHECKING:
    from mlflow_monitor.model.wrap import WrappedModel

__all__ = ["BASELINE", "evaluate", "log_detector", "make_reviews", "train_pipeline", "wrap_example"]

_reviews_data = load_script(EXAMPLES / "reviews_data.py")
make_reviews = _reviews_data.make_reviews
train_pipeline = _reviews_data.train_pipeline
log_detector = _reviews_data.log_detector
evaluate = _reviews_data.evaluate

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}


def wrap_example(name: str, config: dict[str, Any] | None = None) -> WrappedModel:
    """Log the example review detector as ``name`` version 1 and wrap it with ``config``."""
    import mlflow

    from mlflow_monitor.model.wrap import wrap

    train = make_reviews(400, seed=1)
    inputs = train[["text"]]
    with mlflow.start_run():
        log_detector(train_pipeline(train), inputs, name)
    return wrap(f"models:/{name}/1", inputs, BASELINE, config=config)
