"""Two-sample tests on windows of embeddings: the contract and the kernel tests.

Reading order: ``TwoSampleResult`` (what every test returns), ``TwoSampleTest`` (``fit``
once on the reference, ``compare`` each window), ``MMD`` (permutation test, median-heuristic
RBF kernel; Gretton et al. 2012) and ``LSDD`` (least-squares density difference; Bu et al.
2016). ``projected.py`` holds the tests that reduce the embeddings first.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from detectors.base import Detector

__all__ = ["LSDD", "MMD", "TwoSampleResult", "TwoSampleTest"]


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


def as_matrix(x: Any, name: str) -> np.ndarray:
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
        y = as_matrix(current, "current")
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
        x = as_matrix(reference, "reference")
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
        x = as_matrix(reference, "reference").astype(np.float64)
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
