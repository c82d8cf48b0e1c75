"""Embedding cache for toxicity training and benchmarks: fp32 MiniLM response embeddings exactly
as the detector computes them, cached per text (sha256) under build/ so a corpus is embedded once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / "build" / "toxicity-embeddings.npz"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def embed(texts: list[str], cache: Path | None = DEFAULT_CACHE) -> np.ndarray:
    """(len(texts), 384) float32 embeddings; texts not in the cache are embedded and added."""
    store: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache) as npz:
            store = {k: npz[k] for k in npz.files}
    missing = sorted({t for t in texts if _key(t) not in store})
    if missing:
        from detectors.embedding import get_embedder

        vectors = get_embedder("fp32").encode(missing)
        for text, vec in zip(missing, vectors, strict=True):
            store[_key(text)] = np.asarray(vec, dtype=np.float32)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, **store)
            tmp.replace(cache)
    return np.stack([store[_key(t)] for t in texts]) if texts else np.zeros((0, 384), np.float32)
