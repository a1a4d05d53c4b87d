"""Train or retrain the fake-review detector, register it and wrap it with a monitor.

The ``train`` and ``retrain`` entry points of the repository's ``MLproject`` run this script:

    mlflow run . -e train -P model_name=reviews --env-manager local
    mlflow run . -e retrain -P model_name=reviews -P trigger_reason=data_drift --env-manager local

Each run trains on fresh data, evaluates on held-out reviews, registers a new version of
``model_name`` (tagged with the trigger that caused it), and registers a monitored version of
it (``<model_name>-monitored``) whose artifacts hold the reference data and the new baseline.

The held-out reviews, which the model was not fit on, are the monitored version's reference:
with their labels they are where the monitor learns how far the model's probabilities can be
trusted, to estimate performance before labels arrive. On its training rows a model is more
sure, and more often right, than on new data, so estimates learnt there would be too high.
Drawn like the training data, they are the drift reference too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mlflow
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reviews_data import evaluate, log_detector, make_reviews, train_pipeline

from mlflow_monitor.model.wrap import wrap

TRIGGER_TAGS = ("trigger_reason", "trigger_details", "check_run_id")
TRAIN_SHARE = 2 / 3  # of the reviews; the others are held out for evaluation and reference
REFERENCE_ROWS = 1000


def load_data(location: str, seed: int) -> pd.DataFrame:
    """Labelled reviews from a .parquet/.csv file, or freshly generated ones."""
    if location:
        path = Path(location)
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        missing = {"text", "is_fake"} - set(frame.columns)
        if missing:
            raise SystemExit(f"{location}: missing columns {sorted(missing)}")
        return frame
    return make_reviews(3000, seed=seed)


def run(args: argparse.Namespace) -> dict[str, str]:
    """Train, evaluate, register and wrap; returns what was registered."""
    data = load_data(args.data, args.seed).sample(frac=1.0, random_state=args.seed)
    split = int(len(data) * TRAIN_SHARE)
    train, held_out = data.iloc[:split], data.iloc[split:]
    pipeline = train_pipeline(train)
    baseline = evaluate(pipeline, held_out)
    inputs = train[["text"]]
    reference = held_out[["text", "is_fake"]].sample(
        n=min(REFERENCE_ROWS, len(held_out)), random_state=args.seed
    )
    tags = {"mlflow_monitor.entry_point": args.entry_point}
    if args.entry_point == "retrain":
        tags.update(
            {
                "mlflow_monitor.trigger_reason": args.trigger_reason,
                "mlflow_monitor.trigger_details": args.trigger_details,
                "mlflow_monitor.check_run_id": args.check_run_id,
            }
        )
    with mlflow.start_run(run_name=f"{args.entry_point} {args.model_name}") as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "train_rows": len(train),
                "held_out_rows": len(held_out),
                "reference_rows": len(reference),
            }
        )
        mlflow.log_metrics({f"held_out_{k}": v for k, v in baseline.items()})
        info = log_detector(pipeline, inputs, args.model_name)
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_model_version_tag(args.model_name, version, key, value)
        wrapped = wrap(
            f"models:/{args.model_name}/{version}",
            reference,
            baseline,
            config=json.loads(args.monitor_config) if args.monitor_config else None,
            reference_labels="is_fake",  # the estimation reference: held-out rows
        )
    summary = {
        "run_id": run.info.run_id,
        "model": f"models:/{args.model_name}/{version}",
        "monitored_model": wrapped.uri,
        "baseline": json.dumps({k: round(v, 4) for k, v in baseline.items()}),
    }
    for key, value in summary.items():
        print(f"{key:16}: {value}")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entry_point", choices=["train", "retrain"])
    parser.add_argument("--model-name", default="reviews")
    parser.add_argument("--data", default="", help="labelled reviews (.parquet/.csv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trigger-reason", default="manual")
    parser.add_argument("--trigger-details", default="{}")
    parser.add_argument("--check-run-id", default="")
    parser.add_argument("--monitor-config", default="", help="monitor options as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
