"""The predict path of a mixed-type model: numeric, categorical, bool and text columns with
missing values, through a scikit-learn ``ColumnTransformer`` pipeline.

Median ``predict`` time of the inner pyfunc (``mlflow.pyfunc.load_model("models:/shop/1")``)
against the same model wrapped by ``mlflow_monitor.model.wrap.wrap`` (drift features
``tabular``: the rows are recorded as they come, column kinds are read at check time), at
batch 1 and 10,000, interleaved in the same run, recording into an in-process store
(``InMemoryStore``) and into the SQLite store a monitored model uses by default (its writer
flushed, untimed, before every call). The targets are the numeric model's: at most 5% over
the inner pyfunc at batch 1, 2% at 10,000.

Run: ``python benchmarks/bench_predict_mixed.py`` (``--rounds-small``/``--rounds-large``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import latency_header, load_average, machine_summary, predict_latency, table

WORDS = ["good", "bad", "great", "fine", "ok", "awful", "nice", "cheap", "solid", "broken"]


def shop_frame(n: int, seed: int) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "price": rng.normal(10, 2, n),
            "color": rng.choice(["red", "blue", "green", "black"], n),
            "size": rng.choice(["S", "M", "L"], n),
            "gift": rng.choice(["yes", "no"], n),
            "review": [" ".join(rng.choice(WORDS, rng.integers(3, 9))) for _ in range(n)],
        }
    )
    frame.loc[frame.index[::10], "price"] = np.nan
    frame.loc[frame.index[::17], "color"] = None
    return frame


def register(root: Path) -> tuple[str, str]:
    """Train, log and register the mixed-type model as ``shop`` v1 and wrap it."""
    import mlflow
    from bench_models import quiet, use_tracking_store
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlflow_monitor.model.wrap import wrap

    quiet()
    use_tracking_store(root)
    experiment = mlflow.create_experiment("bench", artifact_location=(root / "a").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    train = shop_frame(3000, seed=1)
    labels = ((train["price"].fillna(10) > 10) ^ (train["color"] == "red")).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", SimpleImputer(), ["price"]),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    ["color", "size", "gift"],
                ),
                ("text", TfidfVectorizer(), "review"),
            ]
        ),
        LogisticRegression(max_iter=500),
    ).fit(train, labels)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            pipeline,
            name="m",
            registered_model_name="shop",
            input_example=train.head(3),
            skops_trusted_types=["numpy.dtype"],
        )
    wrapped = wrap("models:/shop/1", train.head(1000), {"accuracy": 0.9})
    assert wrapped.features == "tabular", wrapped.features
    return "models:/shop/1", wrapped.uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds-small", type=int, default=400)
    parser.add_argument("--rounds-large", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as tmp:
        inner_uri, monitored_uri = register(Path(tmp))
        batches = [
            (shop_frame(1, seed=7), args.rounds_small, 1.05),
            (shop_frame(10_000, seed=7), args.rounds_large, 1.02),
        ]
        rows = predict_latency(inner_uri, monitored_uri, batches)
    print("\n".join(machine_summary(torch_line=False)))
    print(f"load average at the end: {load_average():.2f}\n")
    print(table(latency_header(), rows))


if __name__ == "__main__":
    main()
