"""One lazy model cache: load a model (or a head, a checkpoint) once per process per key,
whichever thread asks first, and hand every later caller the same object.

>>> cache: ModelCache[str, list[int]] = ModelCache()
>>> a = cache.get("k", lambda: [1, 2])
>>> a is cache.get("k", lambda: [3])
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ModelCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ModelCache(Generic[K, V]):
    """A process-wide mapping filled on first use; ``load`` runs under a lock, once per key
    (re-entrant, so a loader may use the same cache for another key)."""

    def __init__(self) -> None:
        self._items: dict[K, V] = {}
        self._lock = threading.RLock()

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The value cached under ``key``, loading it with ``load()`` the first time."""
        with self._lock:
            if key not in self._items:
                self._items[key] = load()
            return self._items[key]

    def __len__(self) -> int:
        return len(self._items)
