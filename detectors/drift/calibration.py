"""Significance levels for many streams: a family-wise false-alarm rate split per stream
(Bonferroni), or Benjamini-Hochberg across streams' p-values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["benjamini_hochberg", "window_alpha"]


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
