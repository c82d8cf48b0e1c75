"""The detector contract, the null detector, shared per-batch features and the registry.

A detector turns a batch of events into one ``Signal`` per event, in order, with no side
effects. Expensive inputs several detectors need (the sentence embedding of each prompt and
response) are computed once per batch through :class:`BatchFeatures`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from schemas.errors import InfersightError
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = [
    "REGISTRY",
    "BatchFeatures",
    "Detector",
    "ModelIntegrityError",
    "NullDetector",
    "UnknownDetector",
    "create",
    "register",
    "verified_bytes",
]

T = TypeVar("T")


class BatchFeatures:
    """Values shared by the detectors scoring one batch, each computed at most once.

    >>> calls = []
    >>> f = BatchFeatures([])
    >>> f.get("n", lambda: calls.append(1) or 42), f.get("n", lambda: calls.append(1) or 42)
    (42, 42)
    >>> len(calls)
    1
    """

    def __init__(self, events: Sequence[InferenceEvent]) -> None:
        self.events = events
        self._cache: dict[str, Any] = {}

    def get(self, key: str, compute: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]  # type: ignore[no-any-return]  # stored by this method

    def __contains__(self, key: str) -> bool:
        return key in self._cache


class Detector(ABC):
    """Base class: ``score_batch`` is pure and returns one ``Signal`` per event, in order.

    Subclasses store each ``__init__`` parameter under its own name, so ``repr`` shows the
    configuration and detectors pickle and clone cleanly (river's convention).
    """

    name: ClassVar[str]
    #: False where scoring never reads the shared sentence embedding: the stream layer then
    #: leaves the embedder unloaded unless another detector or drift needs it.
    uses_embedding: ClassVar[bool] = True

    @abstractmethod
    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        """Score a batch. ``features`` may carry values shared with other detectors."""

    def _params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self" and hasattr(self, p)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


class NullDetector(Detector):
    """Checks nothing: a zero score that never fires. Turning a detector off is configuration.

    >>> from schemas.events import InferenceEvent
    >>> e = InferenceEvent(service="s", model="m", event_id="e1")
    >>> NullDetector().score_batch([e])[0].fired
    False
    """

    name: ClassVar[str] = "null"

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        return [
            Signal(
                detector=self.name,
                event_id=e.event_id,
                score=0.0,
                fired=False,
                reason="nothing checked (null detector)",
            )
            for e in events
        ]


class ModelIntegrityError(InfersightError, ValueError):
    """A model artefact does not match the sha256 its manifest records."""


def verified_bytes(path: Path, expected_sha256: str, retrain: str) -> bytes:
    """The bytes of a committed model artefact, refused unless they hash to the manifest's
    sha256 (a stale or tampered head must not score silently)."""
    raw = path.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected_sha256:
        msg = (
            f"{path} has sha256 {actual}, but its manifest records {expected_sha256}; "
            f"re-run {retrain} or restore the committed file"
        )
        raise ModelIntegrityError(msg)
    return raw


class UnknownDetector(InfersightError, KeyError):
    """A detector name in the configuration that is not registered."""


#: name -> "module:Class". Resolved lazily so heavy libraries load only when configured.
REGISTRY: dict[str, str] = {
    "null": "detectors.base:NullDetector",
    "cost": "detectors.cost:CostDetector",
    "pii": "detectors.pii:RegexPIIDetector",
    "pii_ner": "detectors.pii_ner:NERPIIDetector",
    "toxicity": "detectors.toxicity:ToxicityDetector",
    "injection": "detectors.injection:InjectionDetector",
    "hallucination": "detectors.hallucination:HallucinationDetector",
}


def register(name: str, target: str) -> None:
    """Register ``module:Class`` under ``name`` (plug-ins and tests)."""
    REGISTRY[name] = target


def resolve(name: str) -> type[Detector]:
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        msg = f"unknown detector {name!r}; registered detectors: {known}"
        raise UnknownDetector(msg) from None
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        msg = f"{target} (registered as {name!r}) is not a Detector subclass"
        raise TypeError(msg)
    return cls


def create(name: str, **params: Any) -> Detector:
    """Build the detector registered under ``name`` with ``params``."""
    return resolve(name)(**params)
