"""The stateful drift monitor of one embedding stream (service, model, field) and what it
returns: ``DriftResult``, one per tested window, with its reason for on-call.

Everything here is pure computation on arrays: no Kafka, no ClickHouse, no clock. The monitor's
whole state round-trips through ``to_bytes()`` / ``from_bytes()`` so that a restarted worker
resumes with the same reference instead of re-baselining on drifted traffic.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from detectors.drift.calibration import window_alpha
from detectors.drift.explain import Clusters, Redactor, explain, reason
from detectors.drift.registry import make_test
from detectors.drift.two_sample import TwoSampleResult, TwoSampleTest

__all__ = ["DriftResult", "EmbeddingDriftMonitor", "redact_pii"]


def redact_pii(text: str) -> str:
    """The default redactor of quoted texts: ``detectors.pii``'s findings masked."""
    from detectors.pii import find_pii, redact_text

    return redact_text(text, find_pii(text, "drift"))


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
    #: Events of the stream this window stands for: more than its ``window_size`` embeddings
    #: when drift sampled the stream (``detectors.drift.sampling``); see ``detail["sampling"]``.
    seen: int | None = None


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
    redact
        Applied to every text an explanation quotes (default: ``detectors.pii`` redaction).

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

    #: The embedding model and precision the vectors came from, saved with the state (the
    #: caller sets it). A state saved before it was recorded came from fp32, then the default.
    embedding: str = "all-MiniLM-L6-v2/fp32"

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
        redact: Redactor | None = None,
    ) -> None:
        _check_params(window_size, reference_size, reference, consecutive, n_clusters, n_examples)
        self.redact = redact or redact_pii
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
        self._buf_seen = np.zeros(0)  # events each pending item stands for (1 unless sampled)
        self._carry = 0.0  # events seen with no item sampled yet: counted into the next one
        self._fitted: TwoSampleTest | None = None
        self._clusters: Clusters | None = None
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
        seen: int | None = None,
    ) -> None:
        """Add items in arrival order: to the reference while it fills, then to the window.

        ``seen``: how many events of the stream these items were sampled from (default: as
        many as there are items); each window states the events it stands for.
        """
        items = _Items.of(embeddings, texts, event_ids, timestamps)
        n = len(items)
        if seen is not None and seen < n:
            msg = f"seen must be >= the {n} items learned, got {seen!r}"
            raise ValueError(msg)
        if n == 0:
            self._carry += seen or 0
            return
        weights = np.full(n, (n if seen is None else seen) / n)
        weights[0] += self._carry
        self._carry = 0.0
        if self._fitted is None:
            take = self.reference_size - len(self._ref)
            self._ref = self._ref.concat(items.head(take))
            items = items.tail(len(items) - take) if take < len(items) else _Items.empty()
            weights = weights[max(take, 0) :]
            if len(self._ref) >= self.reference_size:
                self._fit()
        if len(items):
            self._buf = self._buf.concat(items)
            self._buf_seen = np.concatenate([self._buf_seen, weights])

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
        self._buf_seen = np.zeros(0)
        self._fit()
        self.streak = 0

    def _fit(self) -> None:
        self._fitted = make_test(self.test, **self._test_kwargs()).fit(self._ref.emb)
        self._clusters = Clusters.fit(self._ref, self.n_clusters, self.seed)

    # -- checking -----------------------------------------------------------------------

    def check(self) -> DriftResult | None:
        """Test the oldest full window; ``None`` while there is no reference or no full window."""
        if self._fitted is None or len(self._buf) < self.window_size:
            return None
        window = self._buf.head(self.window_size)
        self._buf = self._buf.tail(len(self._buf) - self.window_size)
        seen = max(self.window_size, round(float(self._buf_seen[: self.window_size].sum())))
        self._buf_seen = self._buf_seen[self.window_size :]
        res = self._fitted.compare(window.emb)
        significant = res.p_value < self.alpha
        self.streak = self.streak + 1 if significant else 0
        drift = self.streak >= self.consecutive
        index = self.windows_checked
        self.windows_checked += 1
        detail, samples = self._explain(window, significant)
        rate = self.window_size / seen
        detail = {**detail, "sampling": {"sampled": self.window_size, "seen": seen,
                                         "rate": round(rate, 4)}}  # fmt: skip
        reason = self._reason(res, significant, drift, detail)
        if rate < 1:
            reason += (f" Drift embedded a sample: {self.window_size} of {seen} events "
                       f"(rate {rate:.2f}).")  # fmt: skip
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
            seen=seen,
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
        n = self.n_examples if significant else 0
        return explain(window, self._ref.emb, self._clusters, n, self.redact)

    def _reason(
        self, res: TwoSampleResult, significant: bool, drift: bool, detail: Mapping[str, Any]
    ) -> str:
        streak = (self.streak, self.consecutive)
        what = f"{self.field} embeddings of {self.service}/{self.model}"
        return reason(what, res, self.alpha, significant, drift, streak, detail)

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
            "carry": self._carry,
            "embedding": self.embedding,
        }
        out = io.BytesIO()
        np.savez_compressed(
            out,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            ref=self._ref.emb,
            buf=self._buf.emb,
            last=self._last_window.emb,
            buf_seen=self._buf_seen,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, redact: Redactor | None = None) -> EmbeddingDriftMonitor:
        """Rebuild a monitor from :meth:`to_bytes`; the reference is refitted, not re-learned."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            mon = cls(**meta["params"], redact=redact)
            mon._ref = _Items.from_meta(z["ref"], meta["ref"])
            mon._buf = _Items.from_meta(z["buf"], meta["buf"])
            mon._last_window = _Items.from_meta(z["last"], meta["last"])
            # state saved before sampling existed: every pending item was one event
            has_seen = "buf_seen" in z.files
            mon._buf_seen = z["buf_seen"] if has_seen else np.ones(len(mon._buf))
        mon._carry = float(meta.get("carry", 0.0))
        mon.embedding = meta.get("embedding", cls.embedding)
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


def _check_params(
    window_size: int, reference_size: int, reference: str, consecutive: int, n_clusters: int,
    n_examples: int,
) -> None:  # fmt: skip
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
