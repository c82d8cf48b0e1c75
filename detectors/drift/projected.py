"""Two-sample tests that reduce the embeddings first: Kolmogorov-Smirnov on principal
components (Bonferroni over them) and a domain classifier (can a model tell the windows apart?).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np

from detectors.drift.two_sample import (
    TwoSampleResult,
    TwoSampleTest,
    as_matrix,
)

__all__ = ["DomainClassifier", "ProjectedKS"]


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
        x = as_matrix(reference, "reference")
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
        x = as_matrix(reference, "reference")
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
