"""Synthetic fake-review data and the example detector (TF-IDF + logistic regression).

Reviews are bags of words drawn mostly from their class's vocabulary; ``shift`` blends in the
other class's words, which makes the detector's job harder (concept drift), ``style_shift``
adds words neither class used in training (data drift), and ``words`` sets how long reviews
are (short ones give the detector less to go on).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

GENUINE = [
    "solid",
    "works",
    "fine",
    "arrived",
    "decent",
    "okay",
    "returned",
    "battery",
    "sturdy",
    "cheap",
    "manual",
    "size",
    "color",
    "delivery",
    "quality",
]
FAKE = [
    "amazing",
    "best",
    "ever",
    "perfect",
    "incredible",
    "must",
    "buy",
    "life",
    "changing",
    "wow",
    "love",
    "five",
    "stars",
    "unbelievable",
    "awesome",
]
NEW_STYLE = [
    "unboxing",
    "haul",
    "vibes",
    "aesthetic",
    "bundle",
    "influencer",
    "promo",
    "code",
]


def make_reviews(
    n: int,
    seed: int,
    fake_share: float = 0.5,
    shift: float = 0.0,
    style_shift: float = 0.0,
    words: tuple[int, int] = (5, 15),
) -> pd.DataFrame:
    """``n`` reviews with columns ``text`` and ``is_fake`` (1 = fake).

    Args:
        n: number of reviews.
        seed: random seed.
        fake_share: fraction of fake reviews.
        shift: extra probability of drawing each word from the other class's vocabulary.
        style_shift: probability of drawing each word from a vocabulary unseen in training.
        words: the fewest words of a review, and one more than the most.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < fake_share).astype(int)
    texts = []
    for label in labels:
        own, other = (FAKE, GENUINE) if label else (GENUINE, FAKE)
        review = []
        for _ in range(int(rng.integers(*words))):
            draw = rng.random()
            if draw < style_shift:
                vocabulary = NEW_STYLE
            elif draw < style_shift + 0.15 + shift:
                vocabulary = other
            else:
                vocabulary = own
            review.append(vocabulary[int(rng.integers(0, len(vocabulary)))])
        texts.append(" ".join(review))
    return pd.DataFrame({"text": texts, "is_fake": labels})


def train_pipeline(frame: pd.DataFrame) -> Any:
    """Fit the detector: TF-IDF on the ``text`` column, then logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            ("tfidf", ColumnTransformer([("words", TfidfVectorizer(), "text")])),
            ("clf", LogisticRegression(max_iter=200)),
        ]
    )
    return pipeline.fit(frame[["text"]], frame["is_fake"])


def log_detector(pipeline: Any, inputs: pd.DataFrame, registered_model_name: str) -> Any:
    """Log and register the detector so its pyfunc returns ``predict_proba`` (text in,
    probabilities out). Call inside an active MLflow run; returns the ``ModelInfo``."""
    import mlflow
    from mlflow.models import infer_signature

    return mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=infer_signature(inputs, pipeline.predict_proba(inputs.head(5))),
        input_example=inputs.head(3),
        registered_model_name=registered_model_name,
        pyfunc_predict_fn="predict_proba",
    )


def evaluate(pipeline: Any, frame: pd.DataFrame) -> dict[str, float]:
    """Precision, recall, accuracy and F1 of ``pipeline`` on labelled reviews."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    predicted = pipeline.predict(frame[["text"]])
    precision, recall, f1, _ = precision_recall_fscore_support(
        frame["is_fake"], predicted, average="binary", zero_division=0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "accuracy": float(accuracy_score(frame["is_fake"], predicted)),
        "f1_score": float(f1),
    }
