"""The MLflow plugin journey, end to end, on an embedded SQLite tracking store.

Trains and registers the fake-review detector with the repository's ``MLproject`` (which also
registers a monitored version, its reference the held-out reviews with their labels), loads the
monitored model, predicts normal traffic and labels it (the check finds nothing), serves it
with ``mlflow-monitor serve --workers 2`` and sends drifted traffic over HTTP. Before any of its
labels, the check finds drift and estimates, from the model's confidence, that performance
fell: it launches the ``retrain`` project run. Then the labels arrive, over HTTP and from a
CSV, and the check confirms the drop with the realized metrics, beside the estimate's error.
The journey waits for version 2, and prints the estimated and realized metrics of each check,
the baselines of both versions and where to look in the MLflow UI.

    python examples/mlflow_journey.py --output-dir demo-output/mlflow

Every run starts from a clean store in the output directory. It exits non-zero with a message
naming the step that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

MODEL_NAME = "reviews"
MONITORED_NAME = f"{MODEL_NAME}-monitored"
EXIT_NOTHING, EXIT_DEGRADED, EXIT_BOTH = 0, 4, 5
NORMAL_ROWS, DRIFTED_ROWS = 400, 200
WAIT_SECONDS = 240


class StepError(Exception):
    """A step of the journey did not do what it should."""


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def prepare_environment(output_dir: Path) -> None:
    """A clean output directory, stores in it, and this interpreter's ``python`` on PATH."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in ("mlflow.db", "inference.db", "labels.csv", "journey.log"):
        (output_dir / name).unlink(missing_ok=True)
    for out in output_dir.glob("*.out"):
        out.unlink()
    for name in ("mlruns", "mlartifacts"):
        shutil.rmtree(output_dir / name, ignore_errors=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{output_dir / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{output_dir / 'inference.db'}")
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    # keep artifacts of runs created by this process next to the database
    os.chdir(output_dir)


def run_logged(command: list[str], log_file: Path, timeout: float = 600) -> int:
    """Run ``command``, appending its output to ``log_file``; returns the exit code."""
    with log_file.open("a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        done = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    return done.returncode


def monitor_cli() -> list[str]:
    """The ``mlflow-monitor`` command of this environment."""
    script = Path(sys.executable).parent / "mlflow-monitor"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mlflow_monitor.cli"]


def run_cli(args: list[str], log_file: Path, expected: int, name: str) -> str:
    """Run ``mlflow-monitor ARGS``, print its output indented, check the exit code.

    Its output goes to files, not pipes: a retraining run that ``check`` launches inherits
    them and keeps writing after ``check`` has exited.
    """
    print(f"    $ mlflow-monitor {' '.join(args)}", flush=True)
    with log_file.open("a") as log:
        log.write(f"\n$ mlflow-monitor {' '.join(args)}\n")
    out_file = log_file.with_name(f"{name}.out")
    with out_file.open("w") as out, log_file.open("a") as err:
        code = subprocess.run(
            [*monitor_cli(), *args], stdout=out, stderr=err, timeout=600, check=False
        ).returncode
    stdout = out_file.read_text()
    with log_file.open("a") as log:
        log.write(stdout)
    for line in stdout.rstrip().splitlines():
        print(f"    {line}")
    print(f"    (exit code {code})", flush=True)
    if code != expected:
        raise StepError(
            f"mlflow-monitor {args[0]} exited with {code}, expected {expected}; see {log_file}"
        )
    return stdout


def latest_version(client, name: str) -> int:  # type: ignore[no-untyped-def]
    versions = [int(v.version) for v in client.search_model_versions(f"name = '{name}'")]
    if not versions:
        raise StepError(f"no version of {name!r} is registered")
    return max(versions)


def predict_with_ids(model, traffic, prefix: str):  # type: ignore[no-untyped-def]
    """Predict the ``text`` column of ``traffic`` with prediction ids; returns (ids, output)."""
    ids = [f"{prefix}-{i}" for i in range(len(traffic))]
    output = model.predict(traffic[["text"]].assign(prediction_id=ids))
    return ids, output


def http(url: str, payload: Any = None) -> Any:
    """GET, or POST ``payload`` as JSON; the decoded answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read().decode()
    return json.loads(body) if response.headers.get_content_type() == "application/json" else body


@contextmanager
def served(model_uri: str, log_file: Path, workers: int = 2) -> Iterator[str]:
    """``mlflow-monitor serve`` on a free loopback port; yields its URL, stops it (SIGTERM)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["serve", model_uri, "--port", str(port), "--workers", str(workers), "--no-checks"]
    print(f"    $ mlflow-monitor {' '.join(args)}", flush=True)
    with log_file.open("a") as log:
        process = subprocess.Popen([*monitor_cli(), *args], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                http(f"{url}/health")
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise StepError(f"mlflow-monitor serve did not start; see {log_file}") from exc
                time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # the workers write what they queued, then exit
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


ESTIMATED = ("accuracy", "f1_score")
STEPS = ("normal traffic, labelled", "drifted, before labels", "drifted, labelled")


def performance_checks(client, model_name: str) -> list[dict[str, float]]:  # type: ignore[no-untyped-def]
    """The logged metrics of the performance check runs of ``model_name``, oldest first."""
    experiment = client.get_experiment_by_name(f"monitoring/{model_name}")
    if experiment is None:
        raise StepError(f"no experiment monitoring/{model_name}: the checks were not logged")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`mlflow_monitor.check` = 'performance'",
        order_by=["attributes.start_time ASC"],
    )
    return [dict(run.data.metrics) for run in runs]


def baseline_of(client, name: str, version: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The baseline metrics a monitored version was registered with (its tags)."""
    tags = client.get_model_version(name, str(version)).tags
    return {
        k.removeprefix("baseline."): float(v) for k, v in tags.items() if k.startswith("baseline.")
    }


def print_estimates(checks: list[dict[str, float]], baseline: dict[str, float]) -> None:
    """Estimated (95% interval) against realized metrics of the same predictions, one line per
    performance check."""
    header = f"    {'check':<26}{'labelled':>9}"
    for name in ESTIMATED:
        header += f"  {'est. ' + name + ' (95%)':<28}{'realized':>9}{'baseline':>9}"
    print(header)
    for label, metrics in zip(STEPS, checks, strict=False):
        window = metrics.get("performance/estimated_window_size", 0)
        labelled = metrics.get("performance/estimated_window_labelled", 0)
        line = f"    {label:<26}{f'{labelled:.0f}/{window:.0f}':>9}"
        for name in ESTIMATED:
            est = metrics.get(f"performance/estimated_{name}")
            low = metrics.get(f"performance/estimated_{name}_low")
            high = metrics.get(f"performance/estimated_{name}_high")
            error = metrics.get(f"performance/estimation_error_{name}")
            shown = "-" if est is None else f"{est:.3f} ({low:.3f}-{high:.3f})"
            # the realized value of the same predictions: only once they are labelled
            real = "-" if est is None or error is None else f"{est - error:.3f}"
            line += f"  {shown:<28}{real:>9}{baseline.get(name, float('nan')):>9.3f}"
        print(line)


def confirm_estimates(checks: list[dict[str, float]]) -> None:
    """The story the checks must tell: estimated fine on normal traffic, estimated degraded
    before the drifted traffic's labels (the verdict then follows the estimate), and
    confirmed by them."""
    if len(checks) != len(STEPS):
        raise StepError(f"{len(checks)} performance check runs, expected {len(STEPS)}")
    normal, unlabelled, labelled = checks
    if normal.get("performance/estimated_degraded") != 0:
        raise StepError("the estimate flagged a degradation of the normal traffic")
    if unlabelled.get("performance/estimated_window_labelled") != 0:
        raise StepError("the check before the labels saw labels of the drifted traffic")
    if unlabelled.get("performance/estimated_degraded") != 1:
        raise StepError("the estimate did not show the drop before the labels arrived")
    if unlabelled.get("performance/estimate_decides") != 1:
        raise StepError("the check before the labels did not follow the estimate")
    if labelled.get("performance/degraded") != 1:
        raise StepError("the realized metrics did not confirm the drop")
    for name in ESTIMATED:
        before = unlabelled[f"performance/estimated_{name}"]
        after = labelled[f"performance/estimated_{name}"]
        if abs(before - after) > 1e-9:
            raise StepError(f"the labels changed the estimate of {name}: {before} -> {after}")
    errors = {name: labelled.get(f"performance/estimation_error_{name}") for name in ESTIMATED}
    if None in errors.values():
        raise StepError("the labelled check logged no estimation error")
    shown = ", ".join(f"{name} {error:+.3f}" for name, error in errors.items())
    print(f"    estimated minus realized, once the labels are in: {shown}")


def journey(output_dir: Path, seed: int) -> None:
    import mlflow
    import numpy as np
    import pandas as pd
    from reviews_data import make_reviews

    log_file = output_dir / "journey.log"
    log_file.write_text("")
    tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)

    # (a) train, register and wrap with the project's train entry point
    monitor_config = {
        "retrain_project_uri": str(REPO),
        "drift_min_samples": 50,
        "performance_min_samples": 30,
        # the performance checks judge (and estimate) the latest 200 predictions: one batch
        "performance_window_size": DRIFTED_ROWS,
        "random_seed": 0,
    }
    step(f"mlflow run {REPO} -e train -P model_name={MODEL_NAME} (log: {log_file})")
    started = time.monotonic()
    code = run_logged(
        [
            sys.executable,
            "-m",
            "mlflow",
            "run",
            str(REPO),
            "-e",
            "train",
            "-P",
            f"model_name={MODEL_NAME}",
            "-P",
            f"monitor_config={json.dumps(monitor_config)}",
            "--env-manager",
            "local",
        ],
        log_file,
    )
    if code != 0:
        raise StepError(f"the train project run exited with {code}; see {log_file}")
    version = latest_version(client, MONITORED_NAME)
    monitored_uri = f"models:/{MONITORED_NAME}/{version}"
    print(
        f"    registered models:/{MODEL_NAME}/{latest_version(client, MODEL_NAME)} and "
        f"{monitored_uri} in {time.monotonic() - started:.0f} s"
    )

    # (b) normal traffic: the output is the inner model's, the check finds nothing
    step(f"load {monitored_uri} and predict {NORMAL_ROWS} normal reviews")
    model = mlflow.pyfunc.load_model(monitored_uri, model_config={"schedule_checks": False})
    monitored = model.unwrap_python_model()
    inner = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/1")
    # Unchanged traffic is reported as drift with probability drift_p_value (5 %); the
    # default seed gives a sample that is not one of those false alarms (p = 0.82).
    normal = make_reviews(NORMAL_ROWS, seed=seed + 103)
    ids, output = predict_with_ids(model, normal, "normal")
    expected = inner.predict(normal[["text"]])
    if not np.array_equal(np.asarray(output), np.asarray(expected)):
        raise StepError("the monitored model's output differs from the inner model's")
    print(f"    output equals the inner model's output ({np.asarray(output).shape})")
    monitor = monitored.monitor
    for prediction_id, truth in zip(ids, normal["is_fake"], strict=True):
        monitor.record_feedback(prediction_id, int(truth))
    monitor.close()  # flush the recorded rows to the shared store
    print(f"    recorded {len(ids)} labels with monitor.record_feedback")
    step("check the normal traffic (expect exit 0)")
    run_cli(["check", monitored_uri], log_file, EXIT_NOTHING, "check-normal")

    # (c) drifted traffic, served over HTTP: drift, and a drop estimated before any label,
    # which launch the retrain project run
    # influencer-style posts: a few words, many of them unseen in training, so the model
    # is less sure of them (and wrong more often than it is unsure: see the figures)
    drifted = make_reviews(DRIFTED_ROWS, seed=seed + 21, style_shift=0.4, words=(1, 5))
    step(f"serve {monitored_uri} with two workers; send {DRIFTED_ROWS} drifted reviews")
    half = DRIFTED_ROWS // 2
    with served(monitored_uri, log_file) as url:
        answers = []
        for text in drifted["text"]:  # one request each, spread over the workers
            answers.append(http(f"{url}/predict", {"text": text}))
        ids = [a["prediction_id"] for a in answers]
        print(f"    POST /predict x{len(answers)}: {answers[0]}")
        time.sleep(1.5)  # each worker writes its predictions within store_flush_seconds
        step(
            "check before any label of the drifted traffic (expect exit 5: drift, and "
            "degradation estimated from the model's confidence)"
        )
        run_cli(["check", monitored_uri], log_file, EXIT_BOTH, "check-unlabelled")
        step(f"the labels arrive: {half} over HTTP")
        batch = [
            {"prediction_id": pid, "true_label": int(truth)}
            for pid, truth in zip(ids[:half], drifted["is_fake"][:half], strict=True)
        ]
        result = http(f"{url}/monitoring/feedback", {"feedback": batch})
        print(f"    POST /monitoring/feedback ({half} labels): {result}")
        if result["recorded"] != half:
            raise StepError(f"the server recorded {result['recorded']} of {half} labels")
        metrics = [
            line
            for line in http(f"{url}/metrics").splitlines()
            if line.startswith(
                ("fake_review_detection_predictions_total", "fake_review_detection_feedback_total")
            )
        ]
        print("    GET /metrics (summed over both workers):")
        for line in metrics:
            print(f"      {line}")
    labels = output_dir / "labels.csv"
    pd.DataFrame({"prediction_id": ids[half:], "true_label": drifted["is_fake"][half:]}).to_csv(
        labels, index=False
    )
    step(f"send the other {DRIFTED_ROWS - half} labels from a CSV")
    run_cli(["feedback", monitored_uri, "--file", str(labels)], log_file, 0, "feedback")
    step(
        "check the labelled drifted traffic (expect exit 4: the realized metrics confirm the "
        "degradation; no new rows for a drift check)"
    )
    run_cli(["check", monitored_uri], log_file, EXIT_DEGRADED, "check-drifted")
    estimates = performance_checks(client, MODEL_NAME)
    print_estimates(estimates, baseline_of(client, MONITORED_NAME, version))
    confirm_estimates(estimates)

    # (d) the trigger's retrain run registers version 2
    step(f"wait for the retrain run to register models:/{MODEL_NAME}/2")
    started = time.monotonic()
    last_report = started
    retrained = None
    while True:
        elapsed = time.monotonic() - started
        if elapsed > WAIT_SECONDS:
            raise StepError(
                f"models:/{MODEL_NAME}/2 was not registered and finished within {WAIT_SECONDS} s"
            )
        found = {str(v.version): v for v in client.search_model_versions(f"name = '{MODEL_NAME}'")}
        run_status = client.get_run(found["2"].run_id).info.status if "2" in found else None
        if run_status in {"FAILED", "KILLED"}:
            raise StepError(f"the retrain run {found['2'].run_id} ended {run_status}")
        if run_status == "FINISHED":
            retrained = client.get_model_version(MODEL_NAME, "2")
            break
        if time.monotonic() - last_report >= 10:
            state = f"run {run_status}" if run_status else "not registered yet"
            print(f"    {elapsed:.0f} s: version 2 {state}", flush=True)
            last_report = time.monotonic()
        time.sleep(1)
    tags = retrained.tags
    print(
        f"    version 2 registered after {time.monotonic() - started:.0f} s by run "
        f"{retrained.run_id}, trigger_reason={tags.get('mlflow_monitor.trigger_reason')}, "
        f"check_run_id={tags.get('mlflow_monitor.check_run_id')}"
    )

    # (e) baselines across versions
    step(f"compare the versions of {MODEL_NAME}")
    run_cli(["baselines", MODEL_NAME], log_file, 0, "baselines")

    # (f) where to look
    experiment = client.get_experiment_by_name(f"monitoring/{MODEL_NAME}")
    if experiment is None:
        raise StepError(f"no experiment monitoring/{MODEL_NAME}: the checks were not logged")
    history = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`mlflow_monitor.role` = 'history'"
    )
    checks = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`mlflow_monitor.role` = 'check'"
    )
    db = Path(tracking_uri.removeprefix("sqlite:///")).resolve()
    step("done; where to look")
    print(f"    experiment       : monitoring/{MODEL_NAME} (id {experiment.experiment_id})")
    print(f"    check runs       : {len(checks)}")
    for run in history:
        print(f"    history run      : {run.info.run_id} ({run.info.run_name})")
    print(f"    retrained model  : models:/{MODEL_NAME}/2, models:/{MONITORED_NAME}/2")
    print(f"    inference store  : {os.environ['MLFLOW_MONITOR_STORE_URI']}")
    print(f"    log              : {log_file}")
    if tracking_uri.startswith("sqlite:///"):
        print(f"    open the UI with : mlflow ui --backend-store-uri sqlite:///{db} --port 5000")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the journey; 0 when every step did what it should."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo-output/mlflow"),
        help="where the stores and the log go (default: demo-output/mlflow)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the traffic")
    args = parser.parse_args(argv)
    output_dir = args.output_dir.resolve()
    started = time.monotonic()
    prepare_environment(output_dir)
    try:
        journey(output_dir, args.seed)
    except StepError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"The MLflow journey took {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
