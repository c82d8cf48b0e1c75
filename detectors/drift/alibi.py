"""Optional alibi-detect backend for the drift monitor (extra ``alibi``).

alibi-detect 0.13 is under the Business Source License 1.1: free for development and
evaluation, not for production use without a commercial licence. infersight's default tests
(:mod:`detectors.drift`) are its own; this adapter exists so that benchmarks and tests can
compare p-values and speed against the reference implementation, and so that a licensed user
can choose it (``EmbeddingDriftMonitor(test="alibi_mmd")``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import numpy as np

from detectors.drift.two_sample import TwoSampleResult, TwoSampleTest, as_matrix

__all__ = ["AlibiTest"]

Kind = Literal["mmd", "lsdd", "ks"]


class AlibiTest(TwoSampleTest):
    """alibi-detect's MMDDrift, LSDDDrift or KSDrift (PyTorch backend, CPU) as a two-sample test.

    Parameters
    ----------
    kind
        ``"mmd"``, ``"lsdd"`` or ``"ks"`` (per-feature KS with Bonferroni, as alibi does it).
    n_permutations
        Permutations for MMD and LSDD (>= 10); ignored by KS.
    seed
        Seeds torch before fitting and before each comparison (alibi draws its kernel centres
        and permutations from torch's global generator).
    threads
        torch intra-op threads while alibi runs (restored afterwards); ``None`` leaves torch's
        setting. alibi's test loops over many small tensor operations per permutation: on a
        busy 2-core machine two threads made one MMD comparison 60x slower than one thread.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> det = AlibiTest("mmd").fit(rng.normal(size=(200, 8)).astype("float32"))
    >>> det.compare(rng.normal(0.5, 1, size=(100, 8)).astype("float32")).p_value
    0.0
    """

    name: ClassVar[str] = "alibi"

    def __init__(
        self, kind: Kind = "mmd", n_permutations: int = 100, seed: int = 0, threads: int | None = 1
    ) -> None:
        super().__init__()
        if kind not in ("mmd", "lsdd", "ks"):
            msg = f"kind must be 'mmd', 'lsdd' or 'ks', got {kind!r}"
            raise ValueError(msg)
        if n_permutations < 10:
            msg = f"n_permutations must be >= 10, got {n_permutations!r}"
            raise ValueError(msg)
        if threads is not None and threads < 1:
            msg = f"threads must be >= 1 or None, got {threads!r}"
            raise ValueError(msg)
        self.kind = kind
        self.n_permutations = n_permutations
        self.seed = seed
        self.threads = threads

    @contextmanager
    def _torch_threads(self) -> Iterator[None]:
        import torch

        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def fit(self, reference: np.ndarray) -> AlibiTest:
        import logging

        import torch

        logging.getLogger("alibi_detect").setLevel(logging.WARNING)
        x = as_matrix(reference, "reference")
        with self._torch_threads():
            torch.manual_seed(self.seed)
            self._det = self._build(x)
        self._dim = x.shape[1]
        self._n_ref = x.shape[0]
        self._calls = 0
        return self

    def _build(self, x: np.ndarray) -> Any:
        from alibi_detect.cd import KSDrift, LSDDDrift, MMDDrift

        common: dict[str, Any] = {"p_val": 0.05}
        if self.kind == "ks":
            return KSDrift(x, **common)
        cls = MMDDrift if self.kind == "mmd" else LSDDDrift
        common.update(backend="pytorch", n_permutations=self.n_permutations, device="cpu")
        return cls(x, **common)

    def compare(self, current: np.ndarray) -> TwoSampleResult:
        import torch

        y = self._check_current(current, self._dim)
        with self._torch_threads():
            torch.manual_seed(self.seed + 1 + self._calls)
            self._calls += 1
            data = self._det.predict(y, return_p_val=True, return_distance=True)["data"]
        p = np.asarray(data["p_val"], dtype=float)
        dist = np.asarray(data["distance"], dtype=float)
        if self.kind == "ks":  # per feature: Bonferroni over features, as alibi decides
            worst = int(np.argmin(p))
            p_value, stat = float(min(1.0, p[worst] * p.size)), float(dist[worst])
            details: dict[str, Any] = {"worst_feature": worst, "n_features": int(p.size)}
        else:
            p_value, stat = float(p), float(dist)
            details = {"n_permutations": self.n_permutations}
        return TwoSampleResult(
            f"alibi_{self.kind}", stat, p_value, self._n_ref, y.shape[0], details
        )
