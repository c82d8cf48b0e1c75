"""Scalar drift: river's ADWIN and Page-Hinkley on per-event scalars (a rate, a similarity, a
length), with the defaults tuned on the benchmark's streams, and the refusal phrase list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SCALAR_DEFAULTS", "ScalarDrift", "is_refusal"]


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
