"""Monitoring a fake-review detector with mlflow-monitor, end to end, on synthetic data.

The script trains a small scikit-learn detector on generated reviews, hands its evaluation to
a monitor as the performance baseline and its training features as the drift reference, then
plays production traffic in three phases, in batches of 200 reviews:

1. normal traffic, like the training data: no drift, no degradation;
2. data drift: reviews become much longer and use words the model never saw (influencer-style
   posts); the detector still works, but the inputs have moved, so drift is detected;
3. concept shift: a fraud ring writes fakes in the plain style of genuine reviews, and some
   delighted customers write in the hype style; the inputs look like phase 2, only the meaning
   of the labels changed, so only the delayed ground truth reveals it.

The monitor also estimates each window's accuracy from the model's confidence, before its
labels arrive (``setup_performance_estimation`` on held-out reviews the model was not fit on).
The estimate follows the model through the data drift, where it keeps working, and it cannot
see the concept shift: the inputs are no less clear to the model, only the answers changed.

Ground truth reaches the monitor one batch late through ``record_feedback``. The script runs
the checks itself after every batch (the periodic scheduler would run them every hour), so its
output is reproducible for a given ``--seed``. At the end it fires a manual trigger, saves the
state, loads it into a fresh monitor and checks that the story it told actually happened.

Run it with ``make demo``, or ``python examples/monitoring_integration.py --output-dir out``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.preprocessing import StandardScaler

import mlflow_monitor
from mlflow_monitor import CheckResult, FeedbackError, ModelMonitor, UnknownPredictionError

logger = logging.getLogger("fake_review_demo")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

N_TRAIN = 2000
N_HELD_OUT = 1000
BATCH_SIZE = 200
FAKE_SHARE = 0.4
SVD_DIMS = 10

# --- synthetic reviews --------------------------------------------------------------------

# fmt: off
FILLER = [
    "the", "it", "this", "product", "i", "was", "is", "and", "a", "for", "my", "with", "very",
    "really", "to", "of"
]
PLAIN = [
    "battery", "arrived", "sturdy", "fine", "works", "returned", "size", "manual", "okay",
    "decent", "quality", "delivery", "color", "cheap", "price", "fits", "broke", "replacement",
    "instructions", "charger", "weeks", "expected", "average", "packaging", "noisy"
]
HYPE = [
    "amazing", "best", "perfect", "incredible", "awesome", "love", "must", "buy", "wow",
    "unbelievable", "fantastic", "stars", "recommend", "everyone", "ever", "flawless",
    "outstanding", "greatest", "super", "excellent"
]
NEW_WORDS = [
    "unboxing", "haul", "vibes", "aesthetic", "bundle", "influencer", "promo", "code", "giveaway",
    "subscribe", "link", "discount"
]
# fmt: on
HYPE_SET = frozenset(HYPE)
VOCABULARIES = (FILLER, PLAIN, HYPE, NEW_WORDS)
# Probability of drawing each word from FILLER, PLAIN, HYPE for each writing style.
PLAIN_MIX = np.array([0.55, 0.37, 0.08])
HYPE_MIX = np.array([0.55, 0.12, 0.33])
STYLE_FEATURES = (
    "log_words",
    "log_exclamations",
    "hype_ratio",
    "caps_ratio",
    "unique_ratio",
    "mean_word_length",
)
FEATURE_NAMES = [*STYLE_FEATURES, *(f"svd_{i}" for i in range(SVD_DIMS))]


@dataclass(frozen=True)
class Population:
    """How the reviews of one phase are written and labelled.

    Attributes:
        long_reviews: about three times as many words per review.
        new_vocabulary: share of words drawn from a vocabulary unseen in training.
        disguised_fakes: share of plain-style reviews that are in fact fake.
        sincere_hype: share of hype-style reviews that are in fact genuine.
    """

    long_reviews: bool = False
    new_vocabulary: float = 0.0
    disguised_fakes: float = 0.0
    sincere_hype: float = 0.0


@dataclass(frozen=True)
class Phase:
    """A stretch of simulated production traffic."""

    name: str
    description: str
    batches: int
    population: Population


DRIFTED = Population(long_reviews=True, new_vocabulary=0.2)
PHASES = (
    Phase("normal", "traffic like the training data", 3, Population()),
    Phase("data drift", "much longer reviews with new vocabulary", 2, DRIFTED),
    Phase(
        "concept shift",
        "fakes written in the plain style; inputs look like phase 2's",
        3,
        Population(long_reviews=True, new_vocabulary=0.2, disguised_fakes=0.3, sincere_hype=0.15),
    ),
)


def make_reviews(
    n: int, rng: np.random.Generator, population: Population = Population()
) -> tuple[list[str], IntArray]:
    """``n`` reviews and their labels (1 = fake).

    Fake reviews are mostly written in a hype style (superlatives, capitals, exclamation
    marks), genuine ones in a plain style; ``population`` changes that, see :class:`Population`.
    """
    hype_style = rng.random(n) < FAKE_SHARE
    lengths = rng.poisson(40, n) + 20 if population.long_reviews else rng.poisson(14, n) + 6
    new = population.new_vocabulary
    texts = []
    for hype, length in zip(hype_style, lengths, strict=True):
        mix = np.append((HYPE_MIX if hype else PLAIN_MIX) * (1.0 - new), new)
        sources = rng.choice(len(VOCABULARIES), size=length, p=mix)
        picks = rng.random(length)
        shout = rng.random(length) < (0.2 if hype else 0.0)
        words = []
        for source, pick, loud in zip(sources, picks, shout, strict=True):
            vocabulary = VOCABULARIES[source]
            word = vocabulary[int(pick * len(vocabulary))]
            words.append(word.upper() if loud and vocabulary is HYPE else word)
        exclamations = int(rng.poisson(1.5 if hype else 0.3))
        texts.append(" ".join(words) + "!" * exclamations)
    labels = hype_style.astype(np.int64)
    labels[~hype_style & (rng.random(n) < population.disguised_fakes)] = 1
    labels[hype_style & (rng.random(n) < population.sincere_hype)] = 0
    return texts, labels


# --- the detector -------------------------------------------------------------------------


def style_features(texts: Sequence[str]) -> FloatArray:
    """Hand-made style features, one row per review (columns: ``STYLE_FEATURES``)."""
    rows = []
    for text in texts:
        words = text.rstrip("!").split()
        n = max(len(words), 1)
        rows.append(
            [
                np.log1p(len(words)),
                np.log1p(text.count("!")),
                sum(w.lower() in HYPE_SET for w in words) / n,
                sum(w.isupper() and len(w) > 1 for w in words) / n,
                len({w.lower() for w in words}) / n,
                sum(len(w) for w in words) / n,
            ]
        )
    return np.asarray(rows, dtype=np.float64)


class ReviewFeatures:
    """Text to the dense features the classifier reads: style features plus a TF-IDF/SVD
    projection, standardised. The monitor's drift checks see exactly these features."""

    def __init__(self, seed: int) -> None:
        self.tfidf = TfidfVectorizer()
        self.svd = TruncatedSVD(SVD_DIMS, random_state=seed)
        self.scaler = StandardScaler()

    def fit_transform(self, texts: Sequence[str]) -> FloatArray:
        """Fit on the training texts and return their features."""
        self.svd.fit(self.tfidf.fit_transform(texts))
        return np.asarray(self.scaler.fit_transform(self._raw(texts)), dtype=np.float64)

    def transform(self, texts: Sequence[str]) -> FloatArray:
        """Features of new texts."""
        return np.asarray(self.scaler.transform(self._raw(texts)), dtype=np.float64)

    def _raw(self, texts: Sequence[str]) -> FloatArray:
        projected = self.svd.transform(self.tfidf.transform(texts))
        return np.hstack([style_features(texts), projected])


def classification_metrics(truth: IntArray, predicted: IntArray) -> dict[str, float]:
    """Precision, recall, accuracy and F1 with "fake" (1) as the positive class."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", zero_division=0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_score": float(f1),
    }


# --- what the demo observes ---------------------------------------------------------------


class RetrainingInbox:
    """The retraining callback: queues each request and prints it under its batch's row.

    A real deployment would start an MLflow project run or an Airflow DAG here (see the
    README); ``callback(reason, details)`` is all the monitor asks of it.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._unprinted: list[str] = []

    def __call__(self, reason: str, details: dict[str, Any]) -> None:
        self.requests.append((reason, details))
        logger.info("retraining requested: %s %s", reason, details)
        self._unprinted.append(f"retraining requested: reason={reason}; {_describe(details)}")

    def print_new(self) -> None:
        """Print the requests received since the last call."""
        for line in self._unprinted:
            print(f"{'':7}-> callback: {line}")
        self._unprinted.clear()


def _describe(details: dict[str, Any]) -> str:
    if "p_value" in details:
        features = ", ".join(details["drifted_features"][:3]) or "none individually"
        return f"p={details['p_value']:.4f}, most drifted features: {features}"
    if "degraded_metrics" in details:
        drops = ", ".join(
            f"{name} -{drop:.0%}" for name, drop in sorted(details["degraded_metrics"].items())
        )
        return f"relative drops vs. baseline: {drops} over {details['n_samples']} labels"
    return ", ".join(f"{key}={value}" for key, value in details.items())


@dataclass
class Observations:
    """What happened at each batch, for the summary and the final checks."""

    drift_batches: dict[str, list[int]] = field(default_factory=dict)
    degraded_batches: dict[str, list[int]] = field(default_factory=dict)
    checked_batches: dict[str, list[int]] = field(default_factory=dict)
    fired: list[tuple[str, str]] = field(default_factory=list)  # (when, reason)
    first_degraded_metrics: dict[str, float] = field(default_factory=dict)
    # per phase: (estimated accuracy, accuracy the labels of the same predictions show)
    estimates: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def note_estimate(self, phase: str, perf: CheckResult, realized: float) -> None:
        """Keep a check's estimated accuracy beside the realized accuracy of the predictions
        it was estimated over (known to the script, to the monitor only when labelled)."""
        snap = perf.performance
        if snap is not None and snap.estimated is not None:
            estimated = snap.estimated.metrics["accuracy"]
            self.estimates.setdefault(phase, []).append((estimated, realized))

    def first(self, table: dict[str, list[int]]) -> int | None:
        """The earliest batch in ``table`` (``drift_batches`` or ``degraded_batches``)."""
        batches = [b for phase in table.values() for b in phase]
        return min(batches) if batches else None


def _trigger_cell(result: CheckResult, fired_reason: str) -> str | None:
    if result.status not in ("drift", "degraded"):
        return None
    return fired_reason if result.triggered else f"{fired_reason} suppressed (cooldown)"


def print_row(batch: int, phase: str, drift: CheckResult, perf: CheckResult) -> None:
    """One line per batch: the drift and performance verdicts and what they triggered."""
    p_value = f"{drift.drift.p_value:.4f}" if drift.drift else "-"
    drifted = {"drift": "YES", "ok": "no"}.get(drift.status, "skip")
    snap = perf.performance
    labels = str(snap.n_samples) if snap else "0"
    precision = f"{snap.precision:.3f}" if snap and snap.n_samples else "-"
    recall = f"{snap.recall:.3f}" if snap and snap.n_samples else "-"
    accuracy = f"{snap.accuracy:.3f}" if snap and snap.n_samples else "-"
    estimate = snap.estimated if snap else None
    estimated = f"{estimate.metrics['accuracy']:.3f}" if estimate else "-"
    degraded = {"degraded": "YES", "ok": "no"}.get(perf.status, "wait")
    if estimate is not None and estimate.decides and perf.ran:
        degraded += " (est.)"  # the verdict followed the estimate
    cells = [
        _trigger_cell(drift, "data_drift"),
        _trigger_cell(perf, "performance_degradation"),
    ]
    triggered = "; ".join(c for c in cells if c) or "-"
    print(
        f"{batch:>5}  {phase:<13}  {p_value:>7}  {drifted:<5}  {labels:>6}  {precision:>9}  "
        f"{recall:>6}  {accuracy:>8}  {estimated:>8}  {degraded:<10}  {triggered}"
    )


HEADER = (
    f"{'batch':>5}  {'phase':<13}  {'drift p':>7}  {'drift':<5}  {'labels':>6}  "
    f"{'precision':>9}  {'recall':>6}  {'accuracy':>8}  {'est. acc':>8}  {'degraded':<10}  "
    "triggered"
)


# --- the demo -----------------------------------------------------------------------------


def build_monitor(inbox: RetrainingInbox, seed: int) -> ModelMonitor:
    """The monitor, with the documented option names."""
    return mlflow_monitor.create_monitor(
        config={
            "metrics_prefix": "fake_review_detection",
            "retraining_callback": inbox,
            # Each drift check tests one batch of 200 rows; fewer than 100 rows wait.
            "drift_min_samples": 100,
            "drift_window_size": BATCH_SIZE,
            # Checks of unchanged traffic raise a false alarm with probability drift_p_value,
            # so a monitor that checks often wants a strict level; 2000 permutations resolve
            # p-values down to 1/2001, below it.
            "drift_p_value": 0.001,
            "drift_n_permutations": 2000,
            # The reference is the last 600 rows and absorbs each tested batch, so it follows
            # a lasting change of the inputs within three batches.
            "drift_update_ref": {"last": 3 * BATCH_SIZE, "sigma": 1.0},
            # Rolling metrics over the latest 400 labels; no verdict on fewer than 400.
            "performance_window_size": 2 * BATCH_SIZE,
            "performance_min_samples": 2 * BATCH_SIZE,
            "performance_threshold": 0.05,
            # The demo runs every check itself after each batch; the background scheduler
            # would run them once an hour, so it never interferes with the printed output.
            "drift_check_minutes": 60,
            "performance_check_minutes": 60,
            "retraining_cooldown_minutes": 60,
            "random_seed": seed,
        }
    )


def run(output_dir: Path, seed: int) -> int:
    """Train, monitor three phases of traffic, save and reload the state; 0 if all went as
    described."""
    started = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    log_file = output_dir / "monitor.log"
    logging.basicConfig(
        filename=log_file,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    rng = np.random.default_rng(seed)
    print(f"mlflow-monitor demo: a fake-review detector in production (seed {seed})\n")

    train_texts, train_labels = make_reviews(N_TRAIN, rng)
    held_out_texts, held_out_labels = make_reviews(N_HELD_OUT, rng)
    features = ReviewFeatures(seed)
    x_train = features.fit_transform(train_texts)
    model = LogisticRegression(max_iter=1000).fit(x_train, train_labels)
    baseline = classification_metrics(
        held_out_labels, model.predict(features.transform(held_out_texts))
    )
    print(
        f"Trained on {N_TRAIN} reviews ({x_train.shape[1]} dense features: "
        f"{len(STYLE_FEATURES)} style + {SVD_DIMS} TF-IDF/SVD), logistic regression."
    )
    print(
        f"Held-out evaluation on {N_HELD_OUT} reviews (the performance baseline): "
        + "  ".join(f"{name} {value:.3f}" for name, value in baseline.items())
    )

    inbox = RetrainingInbox()
    monitor = build_monitor(inbox, seed)
    monitor.setup_drift_detection(pd.DataFrame(x_train, columns=FEATURE_NAMES))
    monitor.setup_performance_baseline(baseline)
    # the held-out reviews, not the training ones: on those the model is more sure, and
    # more often right, than on new data
    held_out_probabilities = model.predict_proba(features.transform(held_out_texts))[:, 1]
    estimator = monitor.setup_performance_estimation(held_out_probabilities, held_out_labels)
    monitor.start_monitoring()
    reference_rows = monitor.get_monitoring_status()["drift"]["reference_size"]
    print(
        f"Drift reference: the training features (the monitor keeps the last {reference_rows} "
        "rows and adds each tested batch)."
    )
    calibration = estimator.calibration_
    print(
        f"Estimation reference: the {N_HELD_OUT} held-out reviews' probabilities and labels "
        f"(calibration: {calibration.method if calibration else 'none'}).\n'est. acc': the "
        f"accuracy estimated over the latest {monitor.config.performance_window_size} "
        "predictions, labelled or not; 'accuracy': the realized one over the labelled window;\n"
        "'(est.)': the verdict followed the estimate (too few of the latest predictions are "
        "labelled yet).\n"
    )

    seen = Observations()
    late_labels: list[tuple[str, int]] = []  # ground truth of the previous batch
    recent_hits: list[bool] = []  # whether each of the latest predictions is right
    batch = 0
    print(HEADER)
    for number, phase in enumerate(PHASES, start=1):
        first, last = batch + 1, batch + phase.batches
        print(f"-- phase {number}, {phase.name}: {phase.description} (batches {first}-{last})")
        for _ in range(phase.batches):
            batch += 1
            texts, truth = make_reviews(BATCH_SIZE, rng, phase.population)
            x = features.transform(texts)
            probabilities = model.predict_proba(x)[:, 1]
            predictions = (probabilities >= 0.5).astype(int)
            ids = [
                monitor.record_prediction(
                    int(predictions[i]),
                    float(probabilities[i]),
                    features=x[i],
                    prediction_id=f"review-{batch:02d}-{i:03d}",
                )
                for i in range(BATCH_SIZE)
            ]
            # Moderators label the previous batch while this one is being served.
            for prediction_id, label in late_labels:
                monitor.record_feedback(prediction_id, label)
            late_labels = list(zip(ids, truth.tolist(), strict=True))

            drift = monitor.check_drift()
            perf = monitor.check_performance()
            print_row(batch, phase.name, drift, perf)
            # the estimate covers the latest performance_window_size predictions
            window = monitor.config.performance_window_size
            recent_hits = (recent_hits + (predictions == truth).tolist())[-window:]
            seen.note_estimate(phase.name, perf, float(np.mean(recent_hits)))
            inbox.print_new()
            seen.checked_batches.setdefault(phase.name, []).append(batch)
            if drift.status == "drift":
                seen.drift_batches.setdefault(phase.name, []).append(batch)
                if drift.triggered:
                    seen.fired.append((f"batch {batch}", "data_drift"))
            if perf.status == "degraded" and perf.performance is not None:
                if not seen.first(seen.degraded_batches):
                    seen.first_degraded_metrics = perf.performance.metrics
                seen.degraded_batches.setdefault(phase.name, []).append(batch)
                if perf.triggered:
                    seen.fired.append((f"batch {batch}", "performance_degradation"))

    print("\nAn operator asks for retraining by hand (manual triggers ignore the cooldown):")
    event = monitor.trigger_retraining("manual", {"triggered_by": "demo"})
    inbox.print_new()
    if event.fired:
        seen.fired.append(("after the traffic", "manual"))

    print("\nFeedback the monitor refuses:")
    for prediction_id, label in (("review-99-999", 1), ("review-01-000", 1)):
        try:
            monitor.record_feedback(prediction_id, label)
        except (UnknownPredictionError, FeedbackError) as exc:
            print(f"{'':7}{type(exc).__name__}: {exc}")

    status = monitor.get_monitoring_status()
    exposition = (
        monitor.prometheus_metrics.exposition().decode() if monitor.prometheus_metrics else ""
    )
    state_path = output_dir / "monitor_state.npz"
    monitor.save_state(state_path)
    monitor.stop_monitoring()

    restored = mlflow_monitor.load_monitor(state_path, retraining_callback=inbox)
    restored_status = restored.get_monitoring_status()
    compared: dict[str, Callable[[dict[str, Any]], Any]] = {
        "predictions": lambda s: s["counts"]["predictions"],
        "labels": lambda s: s["counts"]["feedback"],
        "pending drift rows": lambda s: s["counts"]["pending_drift_rows"],
        "reference rows": lambda s: s["drift"]["reference_size"],
        "triggers": lambda s: [e["reason"] for e in s["triggers"]["history"]],
        "suppressed": lambda s: s["triggers"]["suppressed_by_cooldown"],
        "baseline": lambda s: s["performance"]["baseline"],
        "degraded": lambda s: s["performance_degraded"],
    }
    mismatches = [name for name, get in compared.items() if get(status) != get(restored_status)]

    print_summary(seen, status, state_path, log_file, exposition, mismatches, baseline)
    problems = check_story(seen, mismatches, monitor.config.drift_p_value)
    print(f"\nRuntime {time.perf_counter() - started:.1f} s.")
    if problems:
        print("\nThe demo did NOT go as described:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    return 0


def print_summary(
    seen: Observations,
    status: dict[str, Any],
    state_path: Path,
    log_file: Path,
    exposition: str,
    mismatches: list[str],
    baseline: dict[str, float],
) -> None:
    """The final summary: first detections, triggers, state file, Prometheus sample."""
    print("\nSummary")
    first_drift = seen.first(seen.drift_batches)
    first_degraded = seen.first(seen.degraded_batches)
    phase_of = {b: name for name, batches in seen.checked_batches.items() for b in batches}
    print(
        "  drift first detected       : "
        + (f"batch {first_drift} ({phase_of[first_drift]})" if first_drift else "never")
    )
    if first_degraded:
        drops = ", ".join(
            f"{name} {baseline[name]:.3f} -> {seen.first_degraded_metrics[name]:.3f}"
            for name in ("precision", "recall")
        )
        print(
            f"  degradation first detected : batch {first_degraded} "
            f"({phase_of[first_degraded]}); {drops}"
        )
    else:
        print("  degradation first detected : never")
    hidden = [
        b
        for b in seen.degraded_batches.get(PHASES[-1].name, [])
        if b not in seen.drift_batches.get(PHASES[-1].name, [])
    ]
    if hidden:
        print(
            f"  degraded without drift     : batches {', '.join(map(str, hidden))}; the reference "
            "had absorbed the new inputs, only the labels show the concept shift"
        )
    print("  accuracy estimated before the labels, against what the labels then showed:")
    for phase, pairs in seen.estimates.items():
        estimated = [e for e, _ in pairs]
        realized = [r for _, r in pairs]
        errors = [abs(e - r) for e, r in pairs]
        print(
            f"      {phase:<14} estimated {min(estimated):.3f}-{max(estimated):.3f}, realized "
            f"{min(realized):.3f}-{max(realized):.3f}, median |error| {np.median(errors):.3f}"
        )
    print(f"  retraining triggers fired  : {len(seen.fired)}")
    for when, reason in seen.fired:
        print(f"      {when:<18} {reason}")
    triggers = status["triggers"]
    print(f"  suppressed by the cooldown : {triggers['suppressed_by_cooldown']}")
    print(
        f"  monitor status             : healthy={status['healthy']}, "
        f"drift_detected={status['drift_detected']}, "
        f"performance_degraded={status['performance_degraded']}"
    )
    counts = status["counts"]
    print(
        f"  recorded                   : {counts['predictions']} predictions, "
        f"{counts['feedback']} labels (the last batch's labels have not arrived)"
    )
    size = state_path.stat().st_size / 1024
    print(f"  state file                 : {state_path} ({size:.0f} KiB)")
    verdict = "match" if not mismatches else f"DIFFER in {', '.join(mismatches)}"
    print(f"  reloaded with load_monitor : counts, triggers, reference and baseline {verdict}")
    print(f"  inspect it with            : mlflow-monitor status {state_path}")
    print(f"  library log                : {log_file}")
    print("  Prometheus exposition (sample):")
    wanted = (
        "precision",
        "recall",
        "drift_detected",
        "drift_p_value",
        "monitoring_status",
        "performance_degraded",
        "retraining_triggered_total",
        "predictions_total",
        "feedback_total",
    )
    prefix = "fake_review_detection_"
    for line in exposition.splitlines():
        name = line.split(" ")[0].split("{")[0]
        if name.startswith(prefix) and name.removeprefix(prefix) in wanted:
            print(f"      {line}")


def check_story(seen: Observations, mismatches: list[str], p_val: float) -> list[str]:
    """What should have happened and did not (empty when the demo told the truth)."""
    normal, drifted, shifted = (phase.name for phase in PHASES)
    problems = []
    if seen.drift_batches.get(normal):
        problems.append(
            f"drift flagged on unchanged traffic at batches {seen.drift_batches[normal]} "
            f"(a false alarm, which a check of unchanged traffic raises with probability "
            f"{p_val}; try another --seed)"
        )
    if not seen.drift_batches.get(drifted):
        problems.append("no drift detected in the data-drift phase")
    if any(seen.degraded_batches.get(name) for name in (normal, drifted)):
        problems.append("degradation flagged before the concept shift")
    if not seen.degraded_batches.get(shifted):
        problems.append("no degradation detected in the concept-shift phase")
    reasons = [reason for _, reason in seen.fired]
    if reasons != ["data_drift", "performance_degradation", "manual"]:
        problems.append(f"expected one trigger per incident plus the manual one, got {reasons}")
    if mismatches:
        problems.append(f"the reloaded state differs in {', '.join(mismatches)}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo-output"),
        help="where the state file and the library log go (default: demo-output)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    args = parser.parse_args(argv)
    return run(args.output_dir, args.seed)


if __name__ == "__main__":
    sys.exit(main())
