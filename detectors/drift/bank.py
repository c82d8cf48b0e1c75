"""Embedding drift for every (service, model, field) seen: one ``EmbeddingDriftMonitor`` per
stream, created on first sight or resumed from saved state, fed with each scored batch.

Pure: the caller supplies how states are loaded (``load``: many streams in one call) and
saves what :meth:`learn` returns.

Bounded: at most ``max_streams`` monitors are held. A producer that puts a request id or a
user's fine-tune into the model name makes a new stream with nearly every event: each cost
a state lookup in ClickHouse per field, and memory that was never given back. The new
streams of a batch are looked up in one call, and past the bound the least recently seen
monitors are saved (``learn`` returns their state) and dropped; one that comes back resumes
from that state.

Texts handed to the monitors are the *stored* (redacted) texts, so neither drift
explanations nor saved state ever hold raw PII.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from detectors.drift.monitor import DriftResult, EmbeddingDriftMonitor
from detectors.pipeline import DRIFT_TEXT, ScoredEvent

__all__ = ["DriftBank", "StreamKey"]

StreamKey = tuple[str, str, str]  # (service, model, field)

log = logging.getLogger(__name__)


class DriftBank:
    """All drift monitors of one worker.

    Parameters
    ----------
    fields
        Which embeddings are watched: "prompt", "response".
    monitor_params
        Keyword arguments of every new ``EmbeddingDriftMonitor`` (test, window_size, ...).
    load
        Returns the saved states of the given streams (those without one are left out);
        called once per batch for the streams the bank does not hold.
    save_every_s
        Pending (not yet tested) items are saved at most this often; a tested window or a
        fitted reference is always saved at once.
    max_streams
        Monitors held at most; past it the least recently seen are saved and dropped
        (``evicted`` counts them).
    embedding
        The embedding model and precision that produce the vectors (``all-MiniLM-L6-v2/int8``).
        A saved state from another one is dropped and its reference learned again: vectors of
        two precisions differ slightly but systematically, and a test between them would
        report the precision change as drift.
    """

    def __init__(
        self,
        fields: Sequence[str],
        monitor_params: dict[str, Any],
        load: Callable[[Sequence[StreamKey]], Mapping[StreamKey, bytes]] = lambda keys: {},
        save_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        embedding: str = EmbeddingDriftMonitor.embedding,
        max_streams: int = 2000,
    ) -> None:
        self.embedding = embedding
        self.fields = tuple(fields)
        self.monitor_params = dict(monitor_params)
        self.load = load
        self.save_every_s = save_every_s
        self.clock = clock
        self.max_streams = max(1, max_streams)
        self.evicted = 0
        self.monitors: dict[StreamKey, EmbeddingDriftMonitor] = {}  # least recently seen first
        self._saved_at: dict[StreamKey, float] = {}
        EmbeddingDriftMonitor("s", "m", "f", **self.monitor_params)  # fail fast on bad params

    def label(self, field: str) -> str:
        """What a stream's vectors are: the model and precision, and for a field whose text
        is not the field itself, which text (``...; prompt=user``: the user's message)."""
        text = DRIFT_TEXT.get(field)
        return f"{self.embedding}; {field}={text}" if text else self.embedding

    def _resume(self, key: StreamKey, state: bytes | None) -> EmbeddingDriftMonitor:
        mon = EmbeddingDriftMonitor.from_bytes(state) if state is not None else None
        label = self.label(key[2])
        if mon is not None and mon.embedding != label:
            log.warning(
                "drift %s: the saved reference was embedded as %s, this worker embeds "
                "as %s; learning a new reference",
                "/".join(key), mon.embedding, label,
            )  # fmt: skip
            mon = None
        if mon is None:
            mon = EmbeddingDriftMonitor(*key, **self.monitor_params)
            mon.embedding = label
        return mon

    def open(self, keys: Sequence[StreamKey]) -> None:
        """Hold a monitor for each of ``keys``, most recently seen last: the ones not held
        are resumed from their saved states, looked up in one ``load`` call."""
        new = [k for k in dict.fromkeys(keys) if k not in self.monitors]
        saved = self.load(new) if new else {}
        for key in keys:
            mon = self.monitors.pop(key, None)
            if mon is None:
                mon = self._resume(key, saved.get(key))
                self._saved_at[key] = self.clock()
            self.monitors[key] = mon

    def monitor(self, key: StreamKey) -> EmbeddingDriftMonitor:
        if key not in self.monitors:
            self.open([key])
        return self.monitors[key]

    def _evict(self, states: dict[StreamKey, bytes]) -> None:
        """Past ``max_streams``: save and drop the least recently seen monitors."""
        while len(self.monitors) > self.max_streams:
            key = next(iter(self.monitors))
            states[key] = self.monitors.pop(key).to_bytes()
            self._saved_at.pop(key, None)
            self.evicted += 1

    def learn(
        self, scored: Sequence[ScoredEvent]
    ) -> tuple[list[DriftResult], dict[StreamKey, bytes]]:
        """Feed a scored batch; return the windows tested and the states to save.

        An event without an embedding of a field (drift sampled it out,
        ``detectors.drift.sampling``) is counted as seen by its stream, not learned."""
        groups: dict[StreamKey, list[ScoredEvent]] = {}
        seen: dict[StreamKey, int] = {}
        for s in scored:
            for f in self.fields:
                key = (s.event.service, s.event.model, f)
                seen[key] = seen.get(key, 0) + 1
                if f in s.embeddings:
                    groups.setdefault(key, []).append(s)
        results: list[DriftResult] = []
        states: dict[StreamKey, bytes] = {}
        self.open(list(seen))
        now = self.clock()
        for key, n_seen in seen.items():
            items = groups.get(key, [])
            mon = self.monitor(key)
            had_reference = mon.has_reference
            field = key[2]
            vectors = [s.embeddings[field] for s in items]
            mon.learn(
                np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32),
                [_shown_text(s, field) for s in items],
                [s.event.event_id for s in items],
                [s.event.timestamp for s in items],
                seen=n_seen,
            )
            tested = list(iter(mon.check, None))
            results.extend(tested)
            changed = tested or (mon.has_reference and not had_reference)
            if changed or now - self._saved_at.get(key, now) >= self.save_every_s:
                states[key] = mon.to_bytes()
                self._saved_at[key] = now
        self._evict(states)
        return results, states


def _shown_text(scored: ScoredEvent, field: str) -> str:
    """The text quoted in explanations: the response, or the prompt's last user message
    (a system prompt shared by every call would crowd out what actually changed)."""
    return scored.event.user_text if field == "prompt" else scored.event.response
