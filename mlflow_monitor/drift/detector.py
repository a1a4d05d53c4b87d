"""Data drift detection: a multivariate MMD test plus per-feature KS tests.

:class:`DriftDetector` is the front end. It validates data, keeps the reference sample (and
its update policy), runs the per-feature tests and hands the multivariate test to a backend:
the built-in exact implementation (:mod:`mlflow_monitor.drift.mmd`, the default) or alibi-detect's
``MMDDrift`` (:mod:`mlflow_monitor.drift.alibi_backend`, optional extra ``alibi``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlflow_monitor._types import FloatArray
from mlflow_monitor.config import (
    DRIFT_BACKENDS,
    DRIFT_DTYPES,
    DRIFT_NULLS,
    FEATURE_CORRECTIONS,
    MonitorConfig,
    check_backend_dtype,
    check_backend_null,
    check_resolution,
    validate_update_ref,
)
from mlflow_monitor.drift.attribution import feature_shares
from mlflow_monitor.drift.backends import backend_named
from mlflow_monitor.drift.bandwidth import ReferenceBandwidth, kept_rows
from mlflow_monitor.drift.ecdf import sorted_columns
from mlflow_monitor.drift.effects import reference_scales
from mlflow_monitor.drift.features import as_feature_matrix, feature_names_of
from mlflow_monitor.drift.mmd import median_heuristic_sigma
from mlflow_monitor.drift.tabular import TabularEncoder
from mlflow_monitor.drift.univariate import ks_feature_tests
from mlflow_monitor.drift.verdict import check_p_value, check_score
from mlflow_monitor.exceptions import (
    ConfigError,
    DataValidationError,
    NotFittedError,
    StateError,
)
from mlflow_monitor.results import DriftResult, FeatureDrift

__all__ = ["DriftDetector"]

logger = logging.getLogger(__name__)

PreprocessFn = Callable[[Any], Any]

# Below this many reference rows per window row, a check's false-alarm rate depends
# noticeably on the reference (see DriftDetector._warn_if_reference_is_small).
SMALL_REFERENCE_RATIO = 3


class DriftDetector:
    """Detects whether recent feature rows come from the reference distribution.

    The multivariate test is an MMD² two-sample permutation test with a Gaussian kernel whose
    bandwidth follows the median heuristic on the reference. Each feature also gets a
    two-sample Kolmogorov-Smirnov test, corrected for multiple testing. The verdict is one
    family-wise p-value over both (:mod:`~mlflow_monitor.drift.verdict`), and comes with each
    feature's effect size and the features that drove it. One result is one window's
    verdict; :class:`~mlflow_monitor.drift.alarm.AlarmPolicy` decides across windows.

    Args:
        p_val: significance level of the tests.
        preprocess_fn: optional function applied to raw reference and test batches before
            testing (for example text -> embedding); must return a 2-D numeric array.
        n_permutations: random splits in the permutation test.
        backend: ``"builtin"`` (exact, numpy) or ``"alibi-detect"`` (extra ``alibi``).
        update_ref: reference update policy, e.g. ``{'last': 1000, 'sigma': 1.0}``: keep the
            most recent ``last`` rows of reference + tested data, and scale the median
            bandwidth by ``sigma``. None keeps the reference fixed.
        feature_correction: ``"bonferroni"``, ``"holm"`` or ``"fdr"``.
        random_seed: seed of the permutations, for reproducible p-values.
        dtype: precision of the built-in backend's kernel products: ``"float64"`` (default)
            or ``"float32"`` (about twice as fast; the statistic stays within about 1e-8
            relative of float64, see :mod:`mlflow_monitor.drift.mmd`). The alibi-detect backend
            computes in float64 only.
        mmd_null: how the built-in backend computes the MMD p-value: ``"permutation"``
            (default; ``n_permutations`` random splits) or ``"gamma"`` (no permutations: the
            upper tail of a gamma distribution with the exact mean and variance of the
            statistic over all splits, :mod:`mlflow_monitor.drift.mmd_gamma`; several times
            faster, p-values within about 0.01 of the permutation test's near 0.05).

    Example:
        >>> detector = DriftDetector(p_val=0.01).fit(reference)  # doctest: +SKIP
        >>> detector.detect(recent_rows).drift_detected  # doctest: +SKIP
    """

    def __init__(
        self,
        p_val: float = 0.05,
        preprocess_fn: PreprocessFn | None = None,
        n_permutations: int = 100,
        backend: str = "builtin",
        update_ref: Mapping[str, Any] | None = None,
        feature_correction: str = "bonferroni",
        random_seed: int | None = None,
        dtype: str = "float64",
        mmd_null: str = "permutation",
    ) -> None:
        self.p_val = p_val
        self.preprocess_fn = preprocess_fn
        self.n_permutations = n_permutations
        self.backend = backend
        self.update_ref = dict(update_ref) if update_ref is not None else None
        self.feature_correction = feature_correction
        self.random_seed = random_seed
        self.dtype = dtype
        self.mmd_null = mmd_null
        self._validate_params()
        self._rng = np.random.default_rng(random_seed)
        self._backend = backend_named(backend, dtype, mmd_null)
        self.reference_: FloatArray | None = None
        self.feature_names_: list[str] = []
        self.sigma_: float | None = None
        self.scales_: FloatArray | None = None
        self.last_batch_: FloatArray | None = None
        self._sorted_reference: FloatArray | None = None
        # Mixed tabular input (set by the monitor): the preprocess_fn is its encoding, and
        # the per-feature results are its per-column tests, named after the input columns.
        self.encoder: TabularEncoder | None = None
        self._warned_small = False

    @classmethod
    def for_columns(cls, config: MonitorConfig, encoder: TabularEncoder) -> DriftDetector:
        """A detector of raw mixed tabular rows: the multivariate test reads
        ``encoder``'s numeric encoding, each input column gets the test of its kind."""
        detector = cls.from_config(config, encoder.transform)
        detector.encoder = encoder
        return detector

    @classmethod
    def from_config(
        cls, config: MonitorConfig, preprocess_fn: PreprocessFn | None = None
    ) -> DriftDetector:
        """A detector with the monitor options ``drift_*`` and ``random_seed`` of ``config``."""
        return cls(
            p_val=config.drift_p_value,
            preprocess_fn=preprocess_fn,
            n_permutations=config.drift_n_permutations,
            backend=config.drift_backend,
            update_ref=config.drift_update_ref,
            feature_correction=config.drift_feature_correction,
            random_seed=config.random_seed,
            dtype=config.drift_dtype,
            mmd_null=config.drift_mmd_null,
        )

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments, so ``DriftDetector(**d.get_params())`` builds an
        unfitted detector with the same settings."""
        return {
            "p_val": self.p_val,
            "preprocess_fn": self.preprocess_fn,
            "n_permutations": self.n_permutations,
            "backend": self.backend,
            "update_ref": self.update_ref,
            "feature_correction": self.feature_correction,
            "random_seed": self.random_seed,
            "dtype": self.dtype,
            "mmd_null": self.mmd_null,
        }

    @classmethod
    def from_state(cls, params: Mapping[str, Any], random_seed: int | None = None) -> DriftDetector:
        """An unfitted detector with the settings a :meth:`get_state` saved.

        Raises:
            StateError: the saved detector had a ``preprocess_fn``, which no saved state
                holds (it holds no code).
        """
        if params.get("has_preprocess_fn"):
            raise StateError(
                "this state was saved by a DriftDetector with a preprocess_fn, which a state "
                "file cannot hold (it holds no code): build the monitor with the same "
                "DriftDetector(preprocess_fn=...) and call monitor.load_state(path)"
            )
        return cls(
            p_val=float(params["p_val"]),
            n_permutations=int(params["n_permutations"]),
            backend=str(params["backend"]),
            update_ref=params.get("update_ref"),
            feature_correction=str(params["feature_correction"]),
            random_seed=random_seed,
            dtype=str(params.get("dtype", "float64")),
            mmd_null=str(params.get("mmd_null", "permutation")),
        )

    def _validate_params(self) -> None:
        p = self.p_val
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 1:
            raise ConfigError(f"p_val must be a number in (0, 1), got {p!r}")
        if self.preprocess_fn is not None and not callable(self.preprocess_fn):
            raise ConfigError(f"preprocess_fn must be callable, got {self.preprocess_fn!r}")
        n = self.n_permutations
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n_permutations must be an integer >= 1, got {n!r}")
        if self.mmd_null not in DRIFT_NULLS:
            raise ConfigError(f"mmd_null must be one of {DRIFT_NULLS}, got {self.mmd_null!r}")
        if self.mmd_null == "permutation":
            check_resolution(float(p), n)
        if self.backend not in DRIFT_BACKENDS:
            raise ConfigError(f"backend must be one of {DRIFT_BACKENDS}, got {self.backend!r}")
        if self.dtype not in DRIFT_DTYPES:
            raise ConfigError(f"dtype must be one of {DRIFT_DTYPES}, got {self.dtype!r}")
        check_backend_dtype(self.backend, self.dtype)
        check_backend_null(self.backend, self.mmd_null)
        validate_update_ref(self.update_ref, key="update_ref")
        if self.feature_correction not in FEATURE_CORRECTIONS:
            raise ConfigError(
                f"feature_correction must be one of {FEATURE_CORRECTIONS}, "
                f"got {self.feature_correction!r}"
            )

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` has been given a reference."""
        return self.reference_ is not None

    @property
    def n_features(self) -> int | None:
        """Width of the feature rows after preprocessing, None before :meth:`fit`."""
        return None if self.reference_ is None else int(self.reference_.shape[1])

    @property
    def _keep_last(self) -> int | None:
        return None if self.update_ref is None else int(self.update_ref["last"])

    def _bandwidth_scale(self) -> float:
        return 1.0 if self.update_ref is None else float(self.update_ref.get("sigma", 1.0))

    def _prepare(self, data: Any, what: str) -> FloatArray:
        if self.preprocess_fn is not None:
            try:
                data = self.preprocess_fn(data)
            except Exception as exc:
                raise DataValidationError(f"preprocess_fn failed on the {what}: {exc}") from exc
        return as_feature_matrix(data, self.n_features if what != "reference" else None, what)

    def fit(
        self,
        reference: Any,
        preprocessed: bool = False,
        bandwidth: ReferenceBandwidth | None = None,
    ) -> DriftDetector:
        """Set the reference sample (typically the training features).

        Args:
            reference: 2-D numeric array or DataFrame (raw data if ``preprocess_fn`` is set).
            preprocessed: the reference is already in feature space, so ``preprocess_fn``
                applies to test batches only (like alibi-detect's ``x_ref_preprocessed``).
            bandwidth: the median-heuristic bandwidth of this reference, computed earlier
                by :meth:`ReferenceBandwidth.of`; used (times the ``update_ref`` ``sigma``)
                when it was computed on exactly the rows this detector keeps, otherwise the
                bandwidth is computed again.

        Returns:
            self.

        Raises:
            DataValidationError: the reference is not numeric, not finite or has < 2 rows.
        """
        raw_input = self.preprocess_fn is not None and not preprocessed
        names = None if raw_input else feature_names_of(reference)
        matrix = (
            self._prepare(reference, "reference")
            if raw_input
            else as_feature_matrix(reference, what="reference")
        )
        if matrix.shape[0] < 2:
            raise DataValidationError(f"reference must have at least 2 rows, got {matrix.shape[0]}")
        if self.encoder is not None and names is None:  # raw rows the encoder encodes
            names = self.encoder.feature_names_
        self.feature_names_ = names or [f"feature_{i}" for i in range(matrix.shape[1])]
        self._set_reference(matrix, bandwidth)
        logger.debug("drift reference set: %d rows x %d features", *matrix.shape)
        return self

    def _set_reference(
        self, matrix: FloatArray, bandwidth: ReferenceBandwidth | None = None
    ) -> None:
        self.reference_ = kept_rows(matrix, self._keep_last)
        if bandwidth is not None and bandwidth.matches(self.reference_):
            median = bandwidth.sigma
        else:
            median = median_heuristic_sigma(self.reference_, self._rng)
        self.sigma_ = median * self._bandwidth_scale()
        self.scales_ = reference_scales(self.reference_)
        self._sorted_reference = sorted_columns(self.reference_)
        self._backend.prepare(self.reference_, self.sigma_)

    def detect(self, x: Any) -> DriftResult:
        """Test a batch of recent rows against the reference.

        With an ``update_ref`` policy the tested rows then join the reference (most recent
        ``last`` rows kept), as alibi-detect's ``update_x_ref`` does.

        Args:
            x: 2-D batch with the reference's width (raw data if ``preprocess_fn`` is set).

        Returns:
            The multivariate verdict with per-feature results.

        Raises:
            NotFittedError: :meth:`fit` was not called.
            DataValidationError: the batch is malformed or has fewer than 2 rows.
        """
        if self.reference_ is None or self.sigma_ is None:
            raise NotFittedError("DriftDetector has no reference; call fit(reference) first")
        batch = self._prepare(x, "test batch")
        if batch.shape[0] < 2:
            raise DataValidationError(f"test batch must have at least 2 rows, got {len(batch)}")
        reference = self.reference_
        self.last_batch_ = batch
        self._warn_if_reference_is_small(reference.shape[0], batch.shape[0])
        mmd = self._backend.test(
            reference, batch, self.sigma_, self.n_permutations, self.p_val, self._rng
        )
        if self.encoder is not None:
            features = self.encoder.column_tests(x, self.p_val, self.feature_correction)
        else:
            features = self._feature_tests(reference, batch)
        # alibi-detect's p-value can be 0: it never counts the observed split
        floor = 1.0 / (1.0 + self.n_permutations) if mmd.n_permutations else 0.0
        mmd_evidence = mmd.tail_p_value if mmd.tail_p_value is not None else mmd.p_value
        p_value = check_p_value(max(mmd_evidence, 0.0) or floor, features)
        result = DriftResult(
            drift_detected=p_value < self.p_val,
            p_value=p_value,
            distance=mmd.statistic,
            distance_threshold=mmd.distance_threshold,
            p_val=self.p_val,
            n_reference=int(reference.shape[0]),
            n_test=int(batch.shape[0]),
            backend=self._backend.name,
            sigma=float(self.sigma_),
            features=features,
            correction=self.feature_correction,
            mmd_p_value=mmd.p_value,
            score=check_score(p_value),
            effect_size=max((f.effect for f in features), default=0.0),
            attribution=feature_shares(features, int(reference.shape[0]), int(batch.shape[0])),
        )
        if self.update_ref is not None:
            self._set_reference(np.concatenate([reference, batch]))
        return result

    def _warn_if_reference_is_small(self, n_reference: int, n_test: int) -> None:
        """Say once when the reference is under :data:`SMALL_REFERENCE_RATIO` x the window.

        The tests are calibrated over references drawn from the population; for one fixed
        reference their false-alarm rate differs from ``p_val`` by an amount that grows
        with ``m / (n + m)`` (at n = 400, m = 300 some references give 1%, others 15%).
        """
        if self._warned_small or n_reference >= SMALL_REFERENCE_RATIO * n_test:
            return
        self._warned_small = True
        logger.warning(
            "the drift reference has %d rows for a %d-row window: with a reference under "
            "%dx the window, how often healthy windows are significant depends on the luck of "
            "this reference; keep more reference rows (drift_update_ref['last']) or test "
            "smaller windows (drift_window_size)",
            n_reference,
            n_test,
            SMALL_REFERENCE_RATIO,
        )

    def _feature_tests(self, reference: FloatArray, batch: FloatArray) -> tuple[FeatureDrift, ...]:
        known = reference is self.reference_
        return ks_feature_tests(
            reference,
            batch,
            self.feature_names_,
            self.p_val,
            self.feature_correction,
            self.scales_ if known else None,
            self._sorted_reference if known else None,
        )

    def get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        """Parameters and arrays needed to restore this detector (no code, no pickle)."""
        params = {
            "p_val": self.p_val,
            "n_permutations": self.n_permutations,
            "backend": self.backend,
            "update_ref": self.update_ref,
            "feature_correction": self.feature_correction,
            "dtype": self.dtype,
            "mmd_null": self.mmd_null,
            "has_preprocess_fn": self.preprocess_fn is not None,
            "feature_names": self.feature_names_,
            "sigma": self.sigma_,
        }
        arrays = {} if self.reference_ is None else {"reference": self.reference_}
        return params, arrays

    def set_state(self, params: Mapping[str, Any], arrays: Mapping[str, FloatArray]) -> None:
        """Restore the reference and bandwidth saved by :meth:`get_state`."""
        reference = arrays.get("reference")
        if reference is None:
            self.reference_, self.sigma_ = None, None
            return
        self.reference_ = as_feature_matrix(reference, what="saved reference")
        self.feature_names_ = [str(n) for n in params.get("feature_names") or []] or [
            f"feature_{i}" for i in range(self.reference_.shape[1])
        ]
        sigma = params.get("sigma")
        self.sigma_ = (
            float(sigma)
            if sigma is not None
            else median_heuristic_sigma(self.reference_) * self._bandwidth_scale()
        )
        self.scales_ = reference_scales(self.reference_)
        self._sorted_reference = sorted_columns(self.reference_)
