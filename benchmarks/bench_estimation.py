"""Issue #14: performance estimated before labels, against the realized performance.

For each task (binary, multiclass, regression) on scikit-learn's bundled data sets and on
seeded synthetic data, a model is trained on one part of the data, the estimator is fit on a
labelled reference part, and windows are drawn from the rest under three scenarios:

- ``no shift``: windows drawn uniformly;
- ``class mix``: the class proportions change (regression: the high-target quarter is drawn
  four times as often);
- ``less sure``: rows are drawn in proportion to the model's uncertainty (classification:
  1 - the top probability; regression: how far the first feature lies from its median).

Each window's estimate is compared with the realized metric (accuracy; regression: MAE) on
its labels: the mean absolute error of the estimate, how often the 95% interval holds the
realized value, and how many windows raise an estimated degradation alarm
(``estimated_degradation`` at ``performance_threshold`` 0.05 against the reference's realized
baseline) against how many are really degraded. Without estimation (today's monitor) nothing
is known about a window until its labels arrive. NannyML's CBPE runs on the same windows
when ``--nannyml PYTHON`` names an interpreter of a virtualenv where nannyml is installed
(it cannot live beside our pins).

Run: ``python benchmarks/bench_estimation.py`` (about a minute); ``--windows`` per scenario.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import machine_summary, table

from mlflow_monitor.performance.estimation import PerformanceEstimator, estimated_degradation

THRESHOLD = 0.05  # performance_threshold's default
WINDOW = 300


@dataclass
class Case:
    """A task on one data set: the trained model's outputs on the reference and the pool."""

    name: str
    task: str
    ref_outputs: Any
    ref_labels: np.ndarray
    ref_features: np.ndarray | None
    pool_outputs: Any
    pool_labels: np.ndarray
    pool_features: np.ndarray | None
    classes: list[Any] | None
    uncertainty: np.ndarray  # per pool row, for the "less sure" scenario


def _split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.6, random_state=seed)
    x_ref, x_pool, y_ref, y_pool = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=seed
    )
    return x_train, y_train, x_ref, y_ref, x_pool, y_pool


def classification_case(name: str, x: np.ndarray, y: np.ndarray, task: str) -> Case:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, x_ref, y_ref, x_pool, y_pool = _split(x, y, 0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x_train, y_train)
    ref, pool = model.predict_proba(x_ref), model.predict_proba(x_pool)
    if task == "binary":
        ref, pool = ref[:, 1], pool[:, 1]
        uncertainty = 1.0 - np.abs(2 * pool - 1)
    else:
        uncertainty = 1.0 - pool.max(axis=1)
    return Case(name, task, ref, y_ref, None, pool, y_pool, None, list(model.classes_), uncertainty)


def regression_case(name: str, x: np.ndarray, y: np.ndarray) -> Case:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x_train, y_train, x_ref, y_ref, x_pool, y_pool = _split(x, y, 0)
    model = HistGradientBoostingRegressor(max_iter=200, random_state=0).fit(x_train, y_train)
    extremity = np.abs(x_pool[:, 0] - np.median(x_train[:, 0]))
    return Case(
        name,
        "regression",
        model.predict(x_ref),
        y_ref,
        x_ref,
        model.predict(x_pool),
        y_pool,
        x_pool,
        None,
        extremity / (extremity.max() or 1.0),
    )


def cases() -> list[Case]:
    from sklearn import datasets

    made: list[Case] = []
    x, y = datasets.load_breast_cancer(return_X_y=True)
    made.append(classification_case("breast_cancer", x, y, "binary"))
    x, y = datasets.make_classification(
        6000, 12, n_informative=6, flip_y=0.08, class_sep=0.8, random_state=1
    )
    made.append(classification_case("synthetic", x, y, "binary"))
    x, y = datasets.load_digits(return_X_y=True)
    made.append(classification_case("digits", x, y, "multiclass"))
    x, y = datasets.make_classification(
        6000, 12, n_informative=8, n_classes=4, flip_y=0.05, class_sep=0.9, random_state=2
    )
    made.append(classification_case("synthetic", x, y, "multiclass"))
    x, y = datasets.load_diabetes(return_X_y=True)
    made.append(regression_case("diabetes", x, y))
    x, y = datasets.make_friedman1(6000, 8, noise=1.0, random_state=3)
    made.append(regression_case("friedman1", x, y))
    # A monitor's loss models see the predicted values only (its checks keep no features of
    # the predictions): the same regressions, estimated as a monitor estimates them.
    made += [
        replace(c, name=f"{c.name}, predictions only", ref_features=None, pool_features=None)
        for c in made
        if c.task == "regression"
    ]
    return made


def scenario_weights(case: Case, scenario: str) -> np.ndarray:
    n = len(case.pool_labels)
    if scenario == "no shift":
        weights = np.ones(n)
    elif scenario == "less sure":
        weights = case.uncertainty + 0.02
    elif case.task == "regression":
        weights = np.where(case.pool_labels >= np.quantile(case.pool_labels, 0.75), 4.0, 1.0)
    elif case.task == "binary":
        weights = np.where(case.pool_labels == case.classes[1], 4.0, 1.0)  # type: ignore[index]
    else:
        weights = np.where(case.pool_labels == case.classes[0], 6.0, 1.0)  # type: ignore[index]
    return weights / weights.sum()


def realized(case: Case, idx: np.ndarray) -> tuple[str, float]:
    if case.task == "regression":
        return "mae", float(np.mean(np.abs(case.pool_labels[idx] - case.pool_outputs[idx])))
    outputs = case.pool_outputs[idx]
    if case.task == "binary":
        predicted = np.where(outputs >= 0.5, case.classes[1], case.classes[0])  # type: ignore[index]
    else:
        predicted = np.asarray(case.classes)[outputs.argmax(axis=1)]
    return "accuracy", float(np.mean(predicted == case.pool_labels[idx]))


def reference_baseline(case: Case) -> dict[str, float]:
    if case.task == "regression":
        return {"mae": float(np.mean(np.abs(case.ref_labels - case.ref_outputs)))}
    outputs = case.ref_outputs
    if case.task == "binary":
        predicted = np.where(outputs >= 0.5, case.classes[1], case.classes[0])  # type: ignore[index]
    else:
        predicted = np.asarray(case.classes)[outputs.argmax(axis=1)]
    return {"accuracy": float(np.mean(predicted == case.ref_labels))}


def run_case(case: Case, windows: int, seed: int) -> tuple[list[list[str]], list[dict[str, Any]]]:
    estimator = PerformanceEstimator(case.task, random_state=seed).fit(
        case.ref_outputs,
        case.ref_labels,
        classes=case.classes,
        reference_features=case.ref_features,
    )
    baseline = reference_baseline(case)
    rng = np.random.default_rng(seed)
    rows, drawn = [], []
    for scenario in ("no shift", "class mix", "less sure"):
        p = scenario_weights(case, scenario)
        errors, covered, alarms, degraded, seconds = [], 0, 0, 0, []
        # Windows never repeat a row (a repeated row would repeat its label, which no real
        # window does): at most half the pool, so that the scenario's weights still bite.
        size = min(WINDOW, len(p) // 2)
        for _ in range(windows):
            idx = rng.choice(len(p), size, replace=False, p=p)
            metric, value = realized(case, idx)
            started = time.perf_counter()
            estimate = estimator.estimate(
                case.pool_outputs[idx],
                features=None if case.pool_features is None else case.pool_features[idx],
            )
            seconds.append(time.perf_counter() - started)
            errors.append(abs(estimate.metrics[metric] - value))
            low, high = estimate.intervals[metric]
            covered += low <= value <= high
            alarms += metric in estimated_degradation(estimate, baseline, THRESHOLD)
            base = baseline[metric]
            drop = (value - base) / base if metric == "mae" else (base - value) / base
            degraded += drop > THRESHOLD
            drawn.append({"case": case, "scenario": scenario, "idx": idx, "realized": value})
        rows.append(
            [
                case.task,
                case.name,
                scenario,
                str(size),
                metric,
                f"{baseline[metric]:.3f}",
                f"{np.mean([d['realized'] for d in drawn[-windows:]]):.3f}",
                f"**{np.mean(errors):.4f}**",
                f"{covered / windows:.0%}",
                f"{alarms} / {degraded}",
                f"{np.median(seconds) * 1000:.1f} ms",
            ]
        )
    return rows, drawn


NANNYML_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, nannyml as nml
job = json.load(open(sys.argv[1]))
out = {}
for key, case in job.items():
    ref = pd.DataFrame({"y_pred_proba": case["ref_p"], "y_true": case["ref_y"]})
    ref["y_pred"] = (ref["y_pred_proba"] >= 0.5).astype(int)
    est = nml.CBPE(
        y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
        problem_type="classification_binary", metrics=["accuracy"],
        chunk_size=len(case["windows"][0]),
    )
    est.fit(ref)
    values = []
    for window in case["windows"]:
        frame = pd.DataFrame({"y_pred_proba": window, "y_pred": [int(p >= 0.5) for p in window]})
        result = est.estimate(frame).filter(period="analysis").to_df()
        values.append(float(result[("accuracy", "value")].iloc[0]))
    out[key] = values
json.dump(out, sys.stdout)
"""


def nannyml_maes(python: str, drawn: list[dict[str, Any]]) -> dict[str, str]:
    """NannyML's CBPE (binary accuracy) on the same windows, in its own interpreter."""
    job: dict[str, Any] = {}
    realized_by: dict[str, list[float]] = {}
    for item in drawn:
        case = item["case"]
        if case.task != "binary":
            continue
        key = f"{case.name} / {item['scenario']}"
        entry = job.setdefault(
            key,
            {"ref_p": case.ref_outputs.tolist(), "ref_y": case.ref_labels.tolist(), "windows": []},
        )
        entry["windows"].append(case.pool_outputs[item["idx"]].tolist())
        realized_by.setdefault(key, []).append(item["realized"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(job))
        done = subprocess.run(
            [python, "-c", NANNYML_SCRIPT, str(path)],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    estimates = json.loads(done.stdout)
    return {
        key: f"{np.mean(np.abs(np.asarray(estimates[key]) - np.asarray(values))):.4f}"
        for key, values in realized_by.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=60, help="windows per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nannyml", default=None, help="python of a venv with nannyml")
    args = parser.parse_args()
    started = time.perf_counter()
    rows, drawn = [], []
    for case in cases():
        case_rows, case_drawn = run_case(case, args.windows, args.seed)
        rows += case_rows
        drawn += case_drawn
        print(f"... {case.task} / {case.name} done", file=sys.stderr)
    print("# Performance estimation before labels\n")
    for line in machine_summary(torch_line=False):
        print(f"- {line}")
    print(
        f"- {args.windows} windows of up to {WINDOW} rows per scenario, seed {args.seed}, "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    header = [
        "task",
        "data",
        "scenario",
        "window",
        "metric",
        "baseline",
        "mean realized",
        "estimate MAE",
        "95% interval covers",
        "alarms / degraded",
        "estimate (median)",
    ]
    if args.nannyml:
        theirs = nannyml_maes(args.nannyml, drawn)
        header.insert(header.index("estimate MAE") + 1, "NannyML CBPE MAE")
        at = header.index("NannyML CBPE MAE")
        for row in rows:
            row.insert(at, theirs.get(f"{row[1]} / {row[2]}", "") if row[0] == "binary" else "")
    print(table(header, rows))
    classification = [r for r in rows if r[0] != "regression"]
    maes = [float(r[header.index("estimate MAE")].strip("*")) for r in classification]
    covers = [float(r[header.index("95% interval covers")].rstrip("%")) for r in rows]
    false_alarms = sum(
        int(r[header.index("alarms / degraded")].split(" / ")[0])
        for r in rows
        if r[2] == "no shift"
    )
    print(
        f"\nAccuracy estimates (binary, multiclass): mean absolute error **{np.mean(maes):.4f}** "
        f"over all windows (goal <= 0.03); intervals cover the realized value in "
        f"{min(covers):.0f}-{max(covers):.0f}% of a scenario's windows (goal >= 90%); "
        f"degradation alarms on the no-shift windows: **{false_alarms}** (goal 0)."
    )
    print(
        "\nWithout estimation nothing is known about a window until its labels arrive: no "
        "alarm, whatever its realized performance. `alarms / degraded`: windows whose "
        f"estimate raised a degradation alarm (threshold {THRESHOLD}) / windows really "
        "more than that below the baseline."
    )
    if not args.nannyml:
        print(
            "\nNannyML: not run. It cannot live beside our pins; install it in a virtualenv "
            "of its own (`python -m venv /tmp/nannyml && /tmp/nannyml/bin/pip install nannyml "
            "statsmodels`) and pass `--nannyml /tmp/nannyml/bin/python`."
        )


if __name__ == "__main__":
    main()
