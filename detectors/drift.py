"""Embedding drift that on-call can trust: two-sample tests on windows of embeddings, scalar
change detectors, and the stateful monitor that turns them into explained drift results.

Reading order: :class:`TwoSampleResult` (what every test returns), the four licence-clean
tests (:class:`MMD`, :class:`LSDD`, :class:`ProjectedKS`, :class:`DomainClassifier`; each
``fit(reference)`` once, then ``compare(current)`` per window), :class:`ScalarDrift` (river's
ADWIN and Page-Hinkley on per-event scalars), the calibration helpers
(:func:`window_alpha`, :func:`benjamini_hochberg`) and :class:`EmbeddingDriftMonitor`, one per
(service, model, field), whose ``check()`` returns a :class:`DriftResult` with its reason.

Everything here is pure computation on arrays: no Kafka, no ClickHouse, no clock. The monitor's
whole state round-trips through ``to_bytes()`` / ``from_bytes()`` so that a restarted worker
resumes with the same reference instead of re-baselining on drifted traffic.

The kernel tests follow the published methods (Gretton et al. 2012 for MMD with the median
heuristic, Bu et al. 2016 for LSDD) and agree with alibi-detect's p-values on the same data
(tests/unit/test_drift.py); alibi-detect itself is only an optional backend
(:mod:`detectors.drift_alibi`) because of its licence.
"""

from __future__ import annotations

import io
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

import numpy as np

from detectors.base import Detector

__all__ = [
    "LSDD",
    "MMD",
    "SCALAR_DEFAULTS",
    "TESTS",
    "DomainClassifier",
    "DriftResult",
    "EmbeddingDriftMonitor",
    "ProjectedKS",
    "ScalarDrift",
    "TwoSampleResult",
    "TwoSampleTest",
    "benjamini_hochberg",
    "is_refusal",
    "make_test",
    "window_alpha",
]


@dataclass(frozen=True)
class TwoSampleResult:
    """One two-sample test of a current window against the reference.

    ``p_value`` is the probability, with no drift, of a statistic at least this extreme;
    ``details`` holds test-specific evidence (JSON-serialisable).
    """

    test: str
    statistic: float
    p_value: float
    n_ref: int
    n_cur: int
    details: Mapping[str, Any] = field(default_factory=dict)


def _as_matrix(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] < 2:
        msg = f"{name} must be a 2-D array with at least 2 rows, got shape {arr.shape}"
        raise ValueError(msg)
    if not np.isfinite(arr).all():
        msg = f"{name} contains NaN or infinite values"
        raise ValueError(msg)
    return np.ascontiguousarray(arr)


def _sq_dists(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    d = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return d


def _median_sq_dist(d_xx: np.ndarray) -> float:
    """Median of the off-diagonal squared distances (the median heuristic)."""
    n = d_xx.shape[0]
    off = d_xx[~np.eye(n, dtype=bool)]
    k = (off.size - 1) // 2  # lower median, as alibi-detect's sigma_median
    return float(np.partition(off, k)[k])


def _perm_indicators(rng: np.random.Generator, n_perm: int, n_total: int, m: int) -> np.ndarray:
    """``n_perm`` rows of 0/1, each marking a random subset of size ``m`` of ``n_total``."""
    idx = np.argsort(rng.random((n_perm, n_total)), axis=1)[:, :m]
    s = np.zeros((n_perm, n_total), dtype=np.float32)
    np.put_along_axis(s, idx, 1.0, axis=1)
    return s


def _permutation_p(stat: float, null: np.ndarray) -> tuple[float, dict[str, float]]:
    """Permutation p-value, with a Pearson type III tail when the statistic beats every draw.

    With P permutations the plain p-value cannot go below 1/(P+1); a multiple-testing-corrected
    alpha often does. Matching the first three moments of the permutation distribution (the
    classic approximation for quadratic permutation statistics) resolves that tail.
    """
    from scipy import stats

    n_perm = null.size
    exceed = int((null >= stat).sum())
    p_perm = (exceed + 1) / (n_perm + 1)
    mu, sd = float(null.mean()), float(null.std(ddof=1))
    skew = float(stats.skew(null)) if sd > 0 else 0.0
    p_tail = float(stats.pearson3.sf(stat, skew, loc=mu, scale=sd)) if sd > 0 else float(stat < mu)
    p = p_perm if exceed > 0 else min(p_perm, p_tail)
    return p, {"p_permutation": p_perm, "p_pearson3": p_tail, "null_mean": mu, "null_std": sd}


class TwoSampleTest(ABC):
    """Fit once on the reference (everything that depends only on it), compare each window."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self._n_ref = 0

    @property
    def fitted(self) -> bool:
        return self._n_ref > 0

    @abstractmethod
    def fit(self, reference: np.ndarray) -> TwoSampleTest:
        """Precompute what depends only on the reference embeddings (n_ref, dim)."""

    @abstractmethod
    def compare(self, current: np.ndarray) -> TwoSampleResult:
        """Test the current window (n_cur, dim) against the fitted reference."""

    def _check_current(self, current: Any, dim: int) -> np.ndarray:
        if not self.fitted:
            msg = f"{type(self).__name__}.compare called before fit(reference)"
            raise RuntimeError(msg)
        y = _as_matrix(current, "current")
        if y.shape[1] != dim:
            msg = f"current has {y.shape[1]} dimensions, the reference {dim}"
            raise ValueError(msg)
        return y

    # Parameters are stored under their own names, as detectors do: the same repr.
    _params = Detector._params
    __repr__ = Detector.__repr__


def _check_permutations(n_permutations: int) -> None:
    if n_permutations < 10:
        msg = f"n_permutations must be >= 10, got {n_permutations!r}"
        raise ValueError(msg)


class MMD(TwoSampleTest):
    """Maximum mean discrepancy with an RBF kernel and a permutation test.

    The bandwidth is the median heuristic on the reference, k(x, y) = exp(-|x-y|^2 / median),
    and the statistic is alibi-detect's MMD^2 estimate (unbiased within-sample terms, the full
    cross term). The permutations are drawn once per window size, so the within-reference part
    of every permuted statistic is precomputed at ``fit``; a window then costs its two kernel
    blocks and two matrix products for all permutations together.

    Parameters
    ----------
    n_permutations
        Permutations in the test (>= 10). Below 1/(n+1) the p-value comes from a Pearson type
        III fit to the permutation distribution (reported in ``details``).
    projection_dim
        If set, embeddings are first mapped by a seeded random orthonormal projection to this
        many dimensions (distances kept up to Johnson-Lindenstrauss error, no fitting bias):
        the kernel blocks, the cost of a window, shrink in proportion. ``None`` keeps all.
    seed
        Seed of the permutations and the projection: the same data give the same p-value.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> mmd = MMD(n_permutations=100).fit(rng.normal(size=(200, 8)))
    >>> mmd.compare(rng.normal(size=(100, 8))).p_value > 0.05
    True
    >>> mmd.compare(rng.normal(0.5, 1, size=(100, 8))).p_value < 0.001
    True
    """

    name: ClassVar[str] = "mmd"

    def __init__(
        self, n_permutations: int = 100, projection_dim: int | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        _check_permutations(n_permutations)
        if projection_dim is not None and projection_dim < 1:
            msg = f"projection_dim must be >= 1 or None, got {projection_dim!r}"
            raise ValueError(msg)
        self.n_permutations = n_permutations
        self.projection_dim = projection_dim
        self.seed = seed

    def fit(self, reference: np.ndarray) -> MMD:
        x = _as_matrix(reference, "reference")
        self._dim = x.shape[1]
        self._proj: np.ndarray | None = None
        if self.projection_dim is not None and self.projection_dim < x.shape[1]:
            g = np.random.default_rng(self.seed).normal(size=(x.shape[1], self.projection_dim))
            self._proj = np.linalg.qr(g)[0].astype(np.float32)
            x = x @ self._proj
        self._x = x
        self._x_sq = np.einsum("ij,ij->i", x, x)
        d_xx = _sq_dists(x, x, self._x_sq, self._x_sq)
        self.bandwidth_ = _median_sq_dist(d_xx)
        k_xx = np.exp(-d_xx / self.bandwidth_)
        np.fill_diagonal(k_xx, 0.0)
        self._k_xx = k_xx
        self._k_xx_rows = k_xx.sum(axis=1)
        self._k_xx_sum = float(self._k_xx_rows.sum())
        self._perms: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._n_ref = x.shape[0]
        return self

    def _permutations(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if m not in self._perms:
            rng = np.random.default_rng([self.seed, m])
            s = _perm_indicators(rng, self.n_permutations, self._n_ref + m, m)
            s_ref, s_cur = s[:, : self._n_ref], s[:, self._n_ref :]
            within_ref = np.einsum("pi,pi->p", s_ref @ self._k_xx, s_ref)
            self._perms = {
                m: (np.ascontiguousarray(s_ref), np.ascontiguousarray(s_cur), within_ref)
            }
        return self._perms[m]

    def compare(self, current: np.ndarray) -> TwoSampleResult:
        y = self._check_current(current, self._dim)
        if self._proj is not None:
            y = y @ self._proj
        n, m = self._n_ref, y.shape[0]
        y_sq = np.einsum("ij,ij->i", y, y)
        k_xy = np.exp(-_sq_dists(self._x, y, self._x_sq, y_sq) / self.bandwidth_)  # (n, m)
        k_yy = np.exp(-_sq_dists(y, y, y_sq, y_sq) / self.bandwidth_)
        np.fill_diagonal(k_yy, 0.0)
        xy_sum, yy_sum = float(k_xy.sum()), float(k_yy.sum())
        c_x, c_y, c_xy = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1)), 2.0 / (n * m)
        stat = c_x * self._k_xx_sum + c_y * yy_sum - c_xy * xy_sum

        # Each permutation marks m of the n+m pooled points as "current": s = (s_ref, s_cur).
        # With zero-diagonal K, a = s'Ks and r = K1:  within-current = a, cross = s'r - a,
        # within-reference = 1'K1 - 2 s'r + a.
        s_ref, s_cur, a_ref = self._permutations(m)
        rows_ref = self._k_xx_rows + k_xy.sum(axis=1)
        rows_cur = k_xy.sum(axis=0) + k_yy.sum(axis=1)
        total = self._k_xx_sum + 2.0 * xy_sum + yy_sum
        a = (
            a_ref
            + 2.0 * np.einsum("pi,pi->p", s_cur @ k_xy.T, s_ref)
            + np.einsum("pj,pj->p", s_cur @ k_yy, s_cur)
        )
        sr = s_ref @ rows_ref + s_cur @ rows_cur
        null = c_y * a + c_x * (total - 2.0 * sr + a) - c_xy * (sr - a)
        p, extra = _permutation_p(stat, null.astype(np.float64))
        details = {"bandwidth": self.bandwidth_, "n_permutations": self.n_permutations, **extra}
        return TwoSampleResult(self.name, float(stat), p, n, m, details)


class LSDD(TwoSampleTest):
    """Least-squares density difference (Bu et al. 2016) with a permutation test.

    Features are standardised with the reference mean and standard deviation; a random
    ``n_kernel_centers`` of the reference (default n/20) are the Gaussian kernel centres and
    the rest is the effective reference. The regularisation is the largest of 1, 1/4, ...
    1/4^9 whose relative difference between the two density-difference estimates on the
    permutations is below ``lambda_rd_max``; the inverses for all ten are precomputed at fit.

    Parameters
    ----------
    n_permutations
        Permutations in the test (>= 10).
    n_kernel_centers
        Reference rows used as kernel centres; ``None`` means max(n_ref // 20, 1).
    lambda_rd_max
        Largest relative difference accepted when choosing the regularisation, in (0, 1).
    seed
        Seed of the kernel centres and permutations.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lsdd = LSDD(n_permutations=100).fit(rng.normal(size=(400, 8)))
    >>> lsdd.compare(rng.normal(size=(100, 8))).p_value > 0.05
    True
    >>> lsdd.compare(rng.normal(0.5, 1, size=(100, 8))).p_value < 0.01
    True
    """

    name: ClassVar[str] = "lsdd"
    _lambdas: ClassVar[tuple[float, ...]] = tuple(1 / 4**i for i in range(10))

    def __init__(
        self,
        n_permutations: int = 100,
        n_kernel_centers: int | None = None,
        lambda_rd_max: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _check_permutations(n_permutations)
        if n_kernel_centers is not None and n_kernel_centers < 1:
            msg = f"n_kernel_centers must be >= 1 or None, got {n_kernel_centers!r}"
            raise ValueError(msg)
        if not 0 < lambda_rd_max < 1:
            msg = f"lambda_rd_max must be in (0, 1), got {lambda_rd_max!r}"
            raise ValueError(msg)
        self.n_permutations = n_permutations
        self.n_kernel_centers = n_kernel_centers
        self.lambda_rd_max = lambda_rd_max
        self.seed = seed

    def fit(self, reference: np.ndarray, center_index: np.ndarray | None = None) -> LSDD:
        """Fit on ``reference``; ``center_index`` picks the kernel-centre rows explicitly."""
        x = _as_matrix(reference, "reference").astype(np.float64)
        n = x.shape[0]
        self._mean = x.mean(axis=0)
        self._std = x.std(axis=0, ddof=1) + 1e-12
        z = (x - self._mean) / self._std
        z_sq = np.einsum("ij,ij->i", z, z)
        self.sigma2_ = 0.5 * _median_sq_dist(_sq_dists(z, z, z_sq, z_sq))
        n_c = self.n_kernel_centers or max(n // 20, 1)
        if center_index is None:
            center_index = np.random.default_rng(self.seed).permutation(n)[:n_c]
        center_index = np.asarray(center_index)
        if not 1 <= center_index.size < n:
            msg = f"need between 1 and {n - 1} kernel centres, got {center_index.size}"
            raise ValueError(msg)
        rest = np.setdiff1d(np.arange(n), center_index)
        self._centers = z[center_index]
        self._c_sq = z_sq[center_index]
        self._k_xc = self._kernel(z[rest], z_sq[rest])
        h = np.exp(
            -_sq_dists(self._centers, self._centers, self._c_sq, self._c_sq) / (4 * self.sigma2_)
        )
        eye = np.eye(h.shape[0])
        self._h = h
        self._h_invs = np.stack([np.linalg.inv(h + lam * eye) for lam in self._lambdas])
        self._perms: dict[int, np.ndarray] = {}
        self._n_ref = n
        self._n_eff = rest.size
        return self

    def _kernel(self, z: np.ndarray, z_sq: np.ndarray) -> np.ndarray:
        return np.exp(-_sq_dists(z, self._centers, z_sq, self._c_sq) / (2 * self.sigma2_))

    def compare(self, current: np.ndarray) -> TwoSampleResult:
        y = self._check_current(current, self._mean.size)
        m = y.shape[0]
        z = (y.astype(np.float64) - self._mean) / self._std
        k_yc = self._kernel(z, np.einsum("ij,ij->i", z, z))
        k_all = np.vstack([self._k_xc, k_yc])
        if m not in self._perms:
            rng = np.random.default_rng([self.seed, m])
            self._perms = {m: _perm_indicators(rng, self.n_permutations, k_all.shape[0], m)}
        s = self._perms[m].astype(np.float64)
        total = k_all.sum(axis=0)
        cur_sums = s @ k_all
        h_perm = (total - cur_sums) / self._n_eff - cur_sums / m  # (P, C)
        h_obs = self._k_xc.mean(axis=0) - k_yc.mean(axis=0)

        omegas = h_perm[None] @ self._h_invs.transpose(0, 2, 1)  # (L, P, C)
        h_omega = (omegas * h_perm[None]).sum(axis=-1)
        o_h_o = ((omegas @ self._h) * omegas).sum(axis=-1)
        rds = (1 - o_h_o / h_omega).mean(axis=1)
        ok = np.flatnonzero(rds < self.lambda_rd_max)
        if ok.size == 0:
            msg = "LSDD found no stable regularisation (too many repeated rows?); use MMD"
            raise ValueError(msg)
        inv = self._h_invs[ok[0]]
        h_lam_inv = 2 * inv - inv.T @ self._h @ inv
        null = ((h_perm @ h_lam_inv) * h_perm).sum(axis=1)
        stat = float(h_obs @ h_lam_inv @ h_obs)
        p, extra = _permutation_p(stat, null)
        details = {
            "lambda": self._lambdas[ok[0]],
            "sigma": math.sqrt(self.sigma2_),
            "n_kernel_centers": int(self._centers.shape[0]),
            "n_permutations": self.n_permutations,
            **extra,
        }
        return TwoSampleResult(self.name, stat, p, self._n_ref, m, details)


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2
    return mean, vt[:k].T.astype(np.float32), var[:k] / var.sum()


class ProjectedKS(TwoSampleTest):
    """Kolmogorov-Smirnov on 1-D projections, Bonferroni-corrected over the projections.

    Parameters
    ----------
    n_projections
        Number of directions (>= 1).
    projection
        ``"pca"``: top principal components of a random half of the reference, the other half
        being the KS reference; ``"random"``: seeded random orthonormal directions, the whole
        reference.
    seed
        Seed of the random directions.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ks = ProjectedKS(n_projections=4).fit(rng.normal(size=(400, 8)))
    >>> ks.compare(rng.normal(size=(200, 8))).p_value > 0.05
    True
    >>> ks.compare(rng.normal(0.5, 1, size=(200, 8))).p_value < 0.001
    True
    """

    name: ClassVar[str] = "ks"

    def __init__(
        self, n_projections: int = 20, projection: Literal["pca", "random"] = "pca", seed: int = 0
    ) -> None:
        super().__init__()
        if n_projections < 1:
            msg = f"n_projections must be >= 1, got {n_projections!r}"
            raise ValueError(msg)
        if projection not in ("pca", "random"):
            msg = f"projection must be 'pca' or 'random', got {projection!r}"
            raise ValueError(msg)
        self.n_projections = n_projections
        self.projection = projection
        self.seed = seed

    def fit(self, reference: np.ndarray) -> ProjectedKS:
        x = _as_matrix(reference, "reference")
        k = min(self.n_projections, x.shape[1])
        if self.projection == "pca":
            # Directions fitted on one half, distributions from the other: top components of
            # a sample overfit its noise (more spread than fresh data along them), which a KS
            # test on the same rows would report as drift on every window.
            order = np.random.default_rng(self.seed).permutation(x.shape[0])
            half = x.shape[0] // 2
            self._mean, self._w, self._explained = _pca(x[order[:half]], k)
            x = x[order[half:]]
        else:
            g = np.random.default_rng(self.seed).normal(size=(x.shape[1], k))
            self._mean = x.mean(axis=0)
            self._w = np.linalg.qr(g)[0].astype(np.float32)
            self._explained = None
        self._ref_sorted = np.sort((x - self._mean) @ self._w, axis=0).T.copy()  # (k, n)
        self._n_ref = x.shape[0]
        self._dim = self._mean.size
        return self

    def compare(self, current: np.ndarray) -> TwoSampleResult:
        from scipy.stats import kstwo

        y = self._check_current(current, self._dim)
        n, m = self._n_ref, y.shape[0]
        cur_sorted = np.sort((y - self._mean) @ self._w, axis=0).T
        d = np.empty(cur_sorted.shape[0])
        for j, (r, c) in enumerate(zip(self._ref_sorted, cur_sorted, strict=True)):
            pts = np.concatenate([r, c])
            cdf_r = np.searchsorted(r, pts, side="right") / n
            cdf_c = np.searchsorted(c, pts, side="right") / m
            d[j] = np.abs(cdf_r - cdf_c).max()
        p_each = kstwo.sf(d, round(n * m / (n + m)))
        worst = int(np.argmin(p_each))
        p = float(min(1.0, p_each[worst] * d.size))
        details: dict[str, Any] = {
            "projection": self.projection,
            "worst_projection": worst,
            "statistics": [round(float(v), 6) for v in d],
            "p_values": [float(v) for v in p_each],
        }
        if self._explained is not None:
            details["explained_variance"] = [round(float(v), 6) for v in self._explained]
        return TwoSampleResult(self.name, float(d[worst]), p, n, m, details)


class DomainClassifier(TwoSampleTest):
    """A classifier told to separate reference from current; cross-validated AUC is the statistic.

    Features are the reference's top principal components (cheap and well-conditioned). In each
    of ``n_folds`` stratified folds (scikit-learn) a linear model is fitted and the out-of-fold
    decision values give the AUC (from their ranks). The p-value is the
    one-sided Mann-Whitney normal approximation for that AUC (slightly conservative:
    cross-validated AUC is biased below 0.5 when nothing has changed).

    Parameters
    ----------
    n_components
        Principal components used as features (>= 1).
    n_folds
        Cross-validation folds (>= 2).
    model
        ``"ridge"``: least-squares linear discriminant solved in closed form (a few ms per
        window); ``"logistic"``: scikit-learn's LogisticRegression (60-700 ms per window on a
        2-core machine, hence not the default).
    C
        Inverse L2 regularisation strength (> 0); ridge uses 1/C as its penalty.
    seed
        Seed of the fold split.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clf = DomainClassifier().fit(rng.normal(size=(400, 8)))
    >>> round(clf.compare(rng.normal(size=(200, 8))).statistic, 2)  # AUC near 0.5: no drift
    0.56
    >>> clf.compare(rng.normal(0.5, 1, size=(200, 8))).statistic > 0.8
    True
    """

    name: ClassVar[str] = "classifier"

    def __init__(
        self,
        n_components: int = 32,
        n_folds: int = 5,
        model: Literal["ridge", "logistic"] = "ridge",
        C: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_components < 1:
            msg = f"n_components must be >= 1, got {n_components!r}"
            raise ValueError(msg)
        if n_folds < 2:
            msg = f"n_folds must be >= 2, got {n_folds!r}"
            raise ValueError(msg)
        if model not in ("ridge", "logistic"):
            msg = f"model must be 'ridge' or 'logistic', got {model!r}"
            raise ValueError(msg)
        if not C > 0:
            msg = f"C must be > 0, got {C!r}"
            raise ValueError(msg)
        self.n_components = n_components
        self.n_folds = n_folds
        self.model = model
        self.C = C
        self.seed = seed

    def fit(self, reference: np.ndarray) -> DomainClassifier:
        x = _as_matrix(reference, "reference")
        self._mean, self._w, _ = _pca(x, min(self.n_components, x.shape[1]))
        xp = (x - self._mean) @ self._w
        self._scale = xp.std(axis=0) + 1e-12
        self._xp = (xp / self._scale).astype(np.float64)
        self._dim = x.shape[1]
        self._n_ref = x.shape[0]
        return self

    def _folds(self, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        m = int(labels.sum())
        if getattr(self, "_fold_cache", (None,))[0] != m:
            from sklearn.model_selection import StratifiedKFold

            split = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed)
            self._fold_cache = (m, list(split.split(np.zeros(labels.size), labels)))
        return self._fold_cache[1]

    def _fold_scores(self, feats: np.ndarray, labels: np.ndarray) -> np.ndarray:
        scores = np.empty(labels.size)
        design = np.hstack([feats, np.ones((labels.size, 1))])
        gram, moment = design.T @ design, design.T @ (2 * labels - 1)
        penalty = np.eye(design.shape[1]) / self.C
        penalty[-1, -1] = 0.0  # no penalty on the intercept
        for train, test in self._folds(labels):
            if self.model == "ridge":
                held = design[test]
                w = np.linalg.solve(
                    gram - held.T @ held + penalty, moment - held.T @ (2 * labels[test] - 1)
                )
                scores[test] = held @ w
            else:
                from sklearn.linear_model import LogisticRegression

                clf = LogisticRegression(C=self.C, max_iter=200)
                clf.fit(feats[train], labels[train])
                scores[test] = clf.decision_function(feats[test])
        return scores

    def compare(self, current: np.ndarray) -> TwoSampleResult:
        from scipy.stats import norm, rankdata

        y = self._check_current(current, self._dim)
        n, m = self._n_ref, y.shape[0]
        feats = np.vstack([self._xp, ((y - self._mean) @ self._w) / self._scale])
        labels = np.r_[np.zeros(n), np.ones(m)]
        # AUC = Mann-Whitney U / (n m), from the ranks of the out-of-fold scores.
        ranks = rankdata(self._fold_scores(feats, labels))
        auc = float((ranks[n:].sum() - m * (m + 1) / 2) / (n * m))
        z = (auc - 0.5) / math.sqrt((n + m + 1) / (12.0 * n * m))
        p = float(norm.sf(z))
        details = {"auc": auc, "z": z, "folds": self.n_folds, "model": self.model}
        return TwoSampleResult(self.name, auc, p, n, m, details)


#: test name -> class; the monitor's ``test`` parameter picks one.
TESTS: dict[str, type[TwoSampleTest]] = {
    MMD.name: MMD,
    LSDD.name: LSDD,
    ProjectedKS.name: ProjectedKS,
    DomainClassifier.name: DomainClassifier,
}


def make_test(name: str, **params: Any) -> TwoSampleTest:
    """Build the two-sample test registered under ``name`` (see :data:`TESTS`)."""
    if name in ("alibi_mmd", "alibi_lsdd", "alibi_ks"):
        from detectors.drift_alibi import AlibiTest

        return AlibiTest(name.removeprefix("alibi_"), **params)
    try:
        cls = TESTS[name]
    except KeyError:
        known = ", ".join([*sorted(TESTS), "alibi_mmd", "alibi_lsdd", "alibi_ks"])
        msg = f"unknown drift test {name!r}; known tests: {known}"
        raise ValueError(msg) from None
    return cls(**params)


# --- calibration ------------------------------------------------------------------------


def window_alpha(false_alarm_rate: float, n_streams: int = 1) -> float:
    """Per-stream significance level for a target false-alarm rate per window.

    Bonferroni over ``n_streams`` streams tested each window: the chance that any of them
    fires on a window with no drift stays at or below ``false_alarm_rate``.

    >>> window_alpha(0.01, 20)
    0.0005
    """
    if not 0 < false_alarm_rate < 1:
        msg = f"false_alarm_rate must be in (0, 1), got {false_alarm_rate!r}"
        raise ValueError(msg)
    if n_streams < 1:
        msg = f"n_streams must be >= 1, got {n_streams!r}"
        raise ValueError(msg)
    return false_alarm_rate / n_streams


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which of many streams' p-values are discoveries at false-discovery rate ``q`` (BH).

    For the monitor agent when it checks many streams in one round: pass every stream's
    p-value, get back which ones to treat as significant.

    >>> benjamini_hochberg([0.001, 0.04, 0.03, 0.5], q=0.05)
    [True, False, False, False]
    """
    if not 0 < q < 1:
        msg = f"q must be in (0, 1), got {q!r}"
        raise ValueError(msg)
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    order = np.argsort(p)
    passed = p[order] <= q * np.arange(1, p.size + 1) / p.size
    k = int(np.flatnonzero(passed).max()) + 1 if passed.any() else 0
    out = np.zeros(p.size, dtype=bool)
    out[order[:k]] = True
    return out.tolist()


# --- scalar streams ---------------------------------------------------------------------

_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|unable|not able)|I can(?:'t|not) (?:help|assist|provide|do)"
    r"|I won't|as an AI\b|I(?:'m| am) not (?:allowed|permitted))",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """Whether a response reads as a refusal (phrase list, first 300 characters).

    >>> is_refusal("I'm sorry, but I can't help with that."), is_refusal("Paris.")
    (True, False)
    """
    return _REFUSAL.search(text[:300]) is not None


#: Per scalar stream: the river detector and its parameters. Binary rates use ADWIN (no
#: scale to tune, delta = its confidence); continuous values use Page-Hinkley with a threshold
#: in the stream's own units. Tuned on the benchmark's real streams
#: (benchmarks/quality/drift.py, HaluEval QA prompts as normal traffic): centroid similarity
#: with threshold 5 raised 1-2 alarms per 20,000 no-shift events; at 10 the tuning sweep saw
#: none in 60,000 and the report's run one in 20,000, and every shift was caught within
#: 31-226 events. Log length at threshold 40: no alarm in 20,000, shifts caught in 25-66.
SCALAR_DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "toxicity_rate": ("adwin", {"delta": 0.002}),
    "refusal_rate": ("adwin", {"delta": 0.002}),
    "centroid_similarity": (
        "page_hinkley",
        {"min_instances": 100, "delta": 0.01, "threshold": 10.0, "mode": "down"},
    ),
    "log_response_length": (
        "page_hinkley",
        {"min_instances": 100, "delta": 0.1, "threshold": 40.0, "mode": "both"},
    ),
}


class ScalarDrift:
    """A river change detector on one per-event scalar stream (a rate, a similarity, a length).

    Parameters
    ----------
    stream
        Name of the stream; with ``method=None`` it picks the defaults in
        :data:`SCALAR_DEFAULTS`.
    method
        ``"adwin"`` or ``"page_hinkley"``; ``None`` takes the stream's default.
    params
        Keyword arguments of the river detector; ``None`` takes the stream's defaults.

    Examples
    --------
    >>> det = ScalarDrift("refusal_rate")
    >>> det.update([0.0] * 1000 + [1.0, 0.0] * 500)
    [1023]
    """

    def __init__(
        self, stream: str, method: str | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        default = SCALAR_DEFAULTS.get(stream)
        if method is None:
            if default is None:
                known = ", ".join(sorted(SCALAR_DEFAULTS))
                msg = f"stream {stream!r} has no defaults ({known}): pass method"
                raise ValueError(msg)
            method = default[0]
        if method not in ("adwin", "page_hinkley"):
            msg = f"method must be 'adwin' or 'page_hinkley', got {method!r}"
            raise ValueError(msg)
        if params is None:
            params = default[1] if default is not None and default[0] == method else {}
        self.stream = stream
        self.method = method
        self.params = dict(params)
        self.n_seen = 0
        self._detector = self._new()

    def _new(self) -> Any:
        from river import drift

        cls = drift.ADWIN if self.method == "adwin" else drift.PageHinkley
        return cls(**self.params)

    def update(self, values: Sequence[float]) -> list[int]:
        """Feed values in order; return the stream positions (0-based) where a change fired."""
        fired = []
        for v in values:
            self._detector.update(float(v))
            if self._detector.drift_detected:
                fired.append(self.n_seen)
            self.n_seen += 1
        return fired

    def to_bytes(self) -> bytes:
        import pickle

        return pickle.dumps(self)

    @staticmethod
    def from_bytes(data: bytes) -> ScalarDrift:
        import pickle

        obj = pickle.loads(data)  # noqa: S301  # our own state, written by to_bytes
        if not isinstance(obj, ScalarDrift):
            msg = f"state holds {type(obj).__name__}, not ScalarDrift"
            raise TypeError(msg)
        return obj

    def __repr__(self) -> str:
        return (
            f"ScalarDrift(stream={self.stream!r}, method={self.method!r}, params={self.params!r})"
        )


# --- the monitor ------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftResult:
    """One checked window of one stream: the test, the decision, and the explanation.

    ``significant`` is this window's verdict (p-value below ``alpha``); ``drift`` is the alert
    decision after the minimum-evidence rule (``streak`` consecutive significant windows).
    ``reason`` is the sentence for on-call; ``detail`` the structured evidence.
    """

    service: str
    model: str
    field: str
    window_index: int
    result: TwoSampleResult
    alpha: float
    significant: bool
    drift: bool
    streak: int
    reason: str
    detail: Mapping[str, Any]
    sample_event_ids: tuple[str, ...]
    window_start: datetime | None = None
    window_end: datetime | None = None

    def to_row(self) -> dict[str, Any]:
        """A row for the ``drift_results`` table (schemas/clickhouse/010_drift.sql).

        Needs the window's time range: pass ``timestamps`` to ``EmbeddingDriftMonitor.learn``.
        """
        if self.window_start is None or self.window_end is None:
            msg = (
                f"drift result {self.service}/{self.model}/{self.field} window "
                f"{self.window_index} has no time range: pass timestamps to learn()"
            )
            raise ValueError(msg)
        return {
            "service": self.service,
            "model": self.model,
            "field": self.field,
            "test": self.result.test,
            "window_index": self.window_index,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "n_ref": self.result.n_ref,
            "n_cur": self.result.n_cur,
            "statistic": self.result.statistic,
            "p_value": self.result.p_value,
            "alpha": self.alpha,
            "significant": int(self.significant),
            "drift": int(self.drift),
            "streak": self.streak,
            "reason": self.reason,
            "detail": json.dumps({"test": dict(self.result.details), **self.detail}, default=str),
            "sample_event_ids": list(self.sample_event_ids),
        }


def _excerpt(text: str, width: int = 80) -> str:
    from detectors.pii import find_pii, redact_text

    clean = " ".join(redact_text(text, find_pii(text, "drift")).split())
    return clean if len(clean) <= width else clean[: width - 1] + "…"


class EmbeddingDriftMonitor:
    """Drift of one embedding stream (service, model, field) against a reference.

    Feed it with ``learn(embeddings, texts, event_ids)``; call ``check()`` until it returns
    ``None``: each call tests one full window of ``window_size`` against the reference and
    returns a :class:`DriftResult`. The first ``reference_size`` items learned become the
    reference unless one is pinned with :meth:`set_reference`. With ``reference="rolling"``
    the reference slides over windows that showed no drift (a drifted window never enters
    it); :meth:`rebaseline` accepts the current traffic as the new normal.

    Parameters
    ----------
    service, model, field
        The stream's identity, copied into every result.
    test
        Two-sample test name: mmd, lsdd, ks, classifier (or alibi_mmd, alibi_lsdd, alibi_ks).
    window_size
        Items per tested window (>= 20); smaller windows are never tested (minimum evidence).
    reference_size
        Items in the reference (>= 20).
    reference
        ``"pinned"`` (fixed until :meth:`rebaseline`) or ``"rolling"``.
    false_alarm_rate
        Target chance per window that a stream with no drift is significant, in (0, 1).
    n_streams
        Streams checked per window across the deployment; alpha = false_alarm_rate /
        n_streams (Bonferroni). For BH across streams use :func:`benjamini_hochberg` on the
        results' p-values instead.
    consecutive
        Significant windows in a row before ``drift`` is True (>= 1).
    n_clusters
        k-means clusters of the reference used to explain vanished topics (>= 2).
    n_examples
        Example texts per explanation (>= 0).
    test_params
        Keyword arguments of the test (``n_permutations``, ...).
    seed
        Seed of the test and the clustering.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> mon = EmbeddingDriftMonitor("svc", "m", "prompt", window_size=100, reference_size=200)
    >>> mon.learn(rng.normal(size=(400, 8)), [f"t{i}" for i in range(400)])
    >>> [r.significant for r in iter(mon.check, None)]
    [False, False]
    >>> mon.learn(rng.normal(0.6, 1, size=(200, 8)), ["shifted"] * 200)
    >>> [(r.significant, r.drift) for r in iter(mon.check, None)]
    [(True, False), (True, True)]
    """

    def __init__(
        self,
        service: str,
        model: str,
        field: str,
        test: str = "mmd",
        window_size: int = 500,
        reference_size: int = 1000,
        reference: Literal["pinned", "rolling"] = "pinned",
        false_alarm_rate: float = 0.01,
        n_streams: int = 1,
        consecutive: int = 2,
        n_clusters: int = 8,
        n_examples: int = 3,
        test_params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        if window_size < 20:
            msg = f"window_size must be >= 20, got {window_size!r}"
            raise ValueError(msg)
        if reference_size < 20:
            msg = f"reference_size must be >= 20, got {reference_size!r}"
            raise ValueError(msg)
        if reference not in ("pinned", "rolling"):
            msg = f"reference must be 'pinned' or 'rolling', got {reference!r}"
            raise ValueError(msg)
        if consecutive < 1:
            msg = f"consecutive must be >= 1, got {consecutive!r}"
            raise ValueError(msg)
        if n_clusters < 2:
            msg = f"n_clusters must be >= 2, got {n_clusters!r}"
            raise ValueError(msg)
        if n_examples < 0:
            msg = f"n_examples must be >= 0, got {n_examples!r}"
            raise ValueError(msg)
        self.service = service
        self.model = model
        self.field = field
        self.test = test
        self.window_size = window_size
        self.reference_size = reference_size
        self.reference = reference
        self.false_alarm_rate = false_alarm_rate
        self.n_streams = n_streams
        self.alpha = window_alpha(false_alarm_rate, n_streams)
        self.consecutive = consecutive
        self.n_clusters = n_clusters
        self.n_examples = n_examples
        self.test_params = dict(test_params or {})
        self.seed = seed
        make_test(test, **self._test_kwargs())  # fail fast on bad test parameters
        self._ref = _Items.empty()
        self._buf = _Items.empty()
        self._last_window = _Items.empty()
        self._fitted: TwoSampleTest | None = None
        self._clusters: _Clusters | None = None
        self.windows_checked = 0
        self.streak = 0

    def _test_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.test_params)
        if not self.test.startswith("alibi_"):
            kwargs.setdefault("seed", self.seed)
        return kwargs

    # -- feeding ------------------------------------------------------------------------

    @property
    def has_reference(self) -> bool:
        return self._fitted is not None

    @property
    def pending(self) -> int:
        """Items learned but not yet tested."""
        return len(self._buf)

    def learn(
        self,
        embeddings: np.ndarray,
        texts: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
        timestamps: Sequence[datetime] | None = None,
    ) -> None:
        """Add items in arrival order: to the reference while it fills, then to the window."""
        items = _Items.of(embeddings, texts, event_ids, timestamps)
        if self._fitted is None:
            take = self.reference_size - len(self._ref)
            self._ref = self._ref.concat(items.head(take))
            items = items.tail(len(items) - take) if take < len(items) else _Items.empty()
            if len(self._ref) >= self.reference_size:
                self._fit()
        if len(items):
            self._buf = self._buf.concat(items)

    def set_reference(
        self,
        embeddings: np.ndarray,
        texts: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> None:
        """Pin a reference (for example a validated sample from before the release)."""
        self._ref = _Items.of(embeddings, texts, event_ids, None)
        self._fit()
        self.streak = 0

    def rebaseline(self) -> None:
        """Accept recent traffic as normal: the reference becomes the latest items seen."""
        recent = self._ref.concat(self._last_window).concat(self._buf)
        self._ref = recent.tail(self.reference_size)
        self._buf = _Items.empty()
        self._fit()
        self.streak = 0

    def _fit(self) -> None:
        self._fitted = make_test(self.test, **self._test_kwargs()).fit(self._ref.emb)
        self._clusters = _Clusters.fit(self._ref, self.n_clusters, self.seed)

    # -- checking -----------------------------------------------------------------------

    def check(self) -> DriftResult | None:
        """Test the oldest full window; ``None`` while there is no reference or no full window."""
        if self._fitted is None or len(self._buf) < self.window_size:
            return None
        window = self._buf.head(self.window_size)
        self._buf = self._buf.tail(len(self._buf) - self.window_size)
        res = self._fitted.compare(window.emb)
        significant = res.p_value < self.alpha
        self.streak = self.streak + 1 if significant else 0
        drift = self.streak >= self.consecutive
        index = self.windows_checked
        self.windows_checked += 1
        detail, samples = self._explain(window, significant)
        reason = self._reason(res, significant, drift, detail)
        result = DriftResult(
            service=self.service,
            model=self.model,
            field=self.field,
            window_index=index,
            result=res,
            alpha=self.alpha,
            significant=significant,
            drift=drift,
            streak=self.streak,
            reason=reason,
            detail=detail,
            sample_event_ids=samples,
            window_start=min(window.ts) if window.ts else None,
            window_end=max(window.ts) if window.ts else None,
        )
        if self.reference == "rolling" and not significant:
            self._ref = self._ref.concat(window).tail(self.reference_size)
            self._last_window = _Items.empty()  # now part of the reference
            self._fit()
        else:
            self._last_window = window  # tested, not in the reference: rebaseline() uses it
        return result

    def _explain(self, window: _Items, significant: bool) -> tuple[dict[str, Any], tuple[str, ...]]:
        assert self._clusters is not None
        detail: dict[str, Any] = {"clusters": self._clusters.shift(window.emb)}
        if not significant or self.n_examples == 0:
            return detail, ()
        # Distance of each current item to its nearest reference item: "nothing like it before".
        sim = (window.emb @ self._ref.emb.T).max(axis=1)
        # The least familiar items, one per distinct text: three copies of one sentence
        # tell on-call less than three different ones.
        order: list[int] = []
        seen: set[str] = set()
        for i in np.argsort(sim):
            text = window.texts[i] if window.texts else str(i)
            if text not in seen:
                seen.add(text)
                order.append(int(i))
            if len(order) == self.n_examples:
                break
        moved = [
            {
                "event_id": window.ids[i] if window.ids else None,
                "text": _excerpt(window.texts[i]) if window.texts else None,
                "nearest_reference_similarity": round(float(sim[i]), 4),
            }
            for i in order
        ]
        detail["moved"] = moved
        detail["vanished"] = self._clusters.vanished(detail["clusters"], self.n_examples)
        ids = tuple(str(m["event_id"]) for m in moved if m["event_id"] is not None)
        return detail, ids

    def _reason(
        self, res: TwoSampleResult, significant: bool, drift: bool, detail: Mapping[str, Any]
    ) -> str:
        head = (
            f"{self.field} embeddings of {self.service}/{self.model}: {res.test.upper()} "
            f"statistic {res.statistic:.4g}, p={res.p_value:.2g} "
            f"{'<' if significant else '>='} alpha={self.alpha:.2g} "
            f"({res.n_cur} current vs {res.n_ref} reference items)"
        )
        if not significant:
            return head + "; no drift."
        verdict = (
            f"drift confirmed in {self.streak} consecutive windows"
            if drift
            else f"significant window {self.streak} of {self.consecutive} needed to alert"
        )
        parts = [f"{head}; {verdict}."]
        moved = [m["text"] for m in detail.get("moved", []) if m["text"]]
        if moved:
            parts.append("New here: " + "; ".join(f"'{t}'" for t in moved) + ".")
        vanished = detail.get("vanished", [])
        if vanished:
            v = vanished[0]
            example = f" e.g. '{v['example']}'" if v.get("example") else ""
            parts.append(
                f"Fading: reference cluster {v['cluster']} ({v['reference_share']:.0%} of the "
                f"reference, {v['current_share']:.0%} now){example}."
            )
        return " ".join(parts)

    # -- state --------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole state (parameters, reference, pending items, counters) as npz bytes."""
        meta = {
            "params": {
                k: getattr(self, k)
                for k in (
                    "service model field test window_size reference_size reference "
                    "false_alarm_rate n_streams consecutive n_clusters n_examples test_params seed"
                ).split()
            },
            "has_reference": self.has_reference,
            "windows_checked": self.windows_checked,
            "streak": self.streak,
            "ref": self._ref.meta(),
            "buf": self._buf.meta(),
            "last": self._last_window.meta(),
        }
        out = io.BytesIO()
        np.savez_compressed(
            out,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            ref=self._ref.emb,
            buf=self._buf.emb,
            last=self._last_window.emb,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> EmbeddingDriftMonitor:
        """Rebuild a monitor from :meth:`to_bytes`; the reference is refitted, not re-learned."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            mon = cls(**meta["params"])
            mon._ref = _Items.from_meta(z["ref"], meta["ref"])
            mon._buf = _Items.from_meta(z["buf"], meta["buf"])
            mon._last_window = _Items.from_meta(z["last"], meta["last"])
        mon.windows_checked = meta["windows_checked"]
        mon.streak = meta["streak"]
        if meta["has_reference"]:
            mon._fit()
        return mon

    @property
    def reference_embeddings(self) -> np.ndarray:
        return self._ref.emb

    def __repr__(self) -> str:
        return (
            f"EmbeddingDriftMonitor(service={self.service!r}, model={self.model!r}, "
            f"field={self.field!r}, test={self.test!r}, window_size={self.window_size!r}, "
            f"reference_size={self.reference_size!r}, reference={self.reference!r}, "
            f"false_alarm_rate={self.false_alarm_rate!r}, n_streams={self.n_streams!r}, "
            f"consecutive={self.consecutive!r})"
        )


@dataclass(frozen=True)
class _Items:
    """Embeddings with their optional texts, event ids and timestamps, kept aligned."""

    emb: np.ndarray
    texts: tuple[str, ...]
    ids: tuple[str, ...]
    ts: tuple[datetime, ...]

    @staticmethod
    def empty() -> _Items:
        return _Items(np.zeros((0, 0), dtype=np.float32), (), (), ())

    @staticmethod
    def of(
        embeddings: Any,
        texts: Sequence[str] | None,
        ids: Sequence[str] | None,
        ts: Sequence[datetime] | None,
    ) -> _Items:
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2:
            msg = f"embeddings must be 2-D (items, dims), got shape {emb.shape}"
            raise ValueError(msg)
        for name, seq in (("texts", texts), ("event_ids", ids), ("timestamps", ts)):
            if seq is not None and len(seq) != emb.shape[0]:
                msg = f"{name} has {len(seq)} items, embeddings {emb.shape[0]}"
                raise ValueError(msg)
        return _Items(emb, tuple(texts or ()), tuple(ids or ()), tuple(ts or ()))

    def __len__(self) -> int:
        return self.emb.shape[0]

    def concat(self, other: _Items) -> _Items:
        if len(self) == 0:
            return other
        if len(other) == 0:
            return self

        def join(a: tuple[Any, ...], b: tuple[Any, ...], na: int, nb: int) -> tuple[Any, ...]:
            # Keep alignment only when both sides carry the field.
            return a + b if len(a) == na and len(b) == nb else ()

        n, k = len(self), len(other)
        return _Items(
            np.vstack([self.emb, other.emb]),
            join(self.texts, other.texts, n, k),
            join(self.ids, other.ids, n, k),
            join(self.ts, other.ts, n, k),
        )

    def head(self, k: int) -> _Items:
        return _Items(self.emb[:k], self.texts[:k], self.ids[:k], self.ts[:k])

    def tail(self, k: int) -> _Items:
        start = max(len(self) - k, 0)
        return _Items(self.emb[start:], self.texts[start:], self.ids[start:], self.ts[start:])

    def meta(self) -> dict[str, Any]:
        return {
            "texts": list(self.texts),
            "ids": list(self.ids),
            "ts": [t.isoformat() for t in self.ts],
        }

    @staticmethod
    def from_meta(emb: np.ndarray, meta: Mapping[str, Any]) -> _Items:
        ts = tuple(datetime.fromisoformat(t) for t in meta["ts"])
        return _Items(emb.astype(np.float32), tuple(meta["texts"]), tuple(meta["ids"]), ts)


@dataclass(frozen=True)
class _Clusters:
    """k-means topics of the reference, to say which of them faded in a window."""

    centers: np.ndarray
    shares: np.ndarray
    examples: tuple[str, ...]

    @staticmethod
    def fit(ref: _Items, n_clusters: int, seed: int) -> _Clusters:
        from sklearn.cluster import KMeans

        k = min(n_clusters, len(ref))
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(ref.emb)
        labels = km.labels_
        shares = np.bincount(labels, minlength=k) / len(ref)
        examples: list[str] = []
        for c in range(k):
            members = np.flatnonzero(labels == c)
            d = ((ref.emb[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
            examples.append(ref.texts[members[np.argmin(d)]] if ref.texts else "")
        return _Clusters(km.cluster_centers_.astype(np.float32), shares, tuple(examples))

    def shift(self, emb: np.ndarray) -> list[dict[str, Any]]:
        d = (emb**2).sum(1)[:, None] - 2 * emb @ self.centers.T + (self.centers**2).sum(1)
        cur = np.bincount(d.argmin(axis=1), minlength=len(self.shares)) / emb.shape[0]
        return [
            {
                "cluster": c,
                "reference_share": round(float(self.shares[c]), 4),
                "current_share": round(float(cur[c]), 4),
            }
            for c in range(len(self.shares))
        ]

    def vanished(self, shift: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        """Clusters that held >= 5% of the reference and lost most of their share."""
        rows = [r for r in shift if r["reference_share"] >= 0.05]
        rows.sort(key=lambda r: r["current_share"] / r["reference_share"])
        out = []
        for r in rows[:n]:
            if r["current_share"] >= 0.5 * r["reference_share"]:
                break
            example = self.examples[r["cluster"]]
            out.append({**r, "example": _excerpt(example) if example else None})
        return out
