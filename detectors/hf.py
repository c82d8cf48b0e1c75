"""Any Hugging Face sequence-classification checkpoint, loaded from a local directory.

For users who have a checkpoint of their own (a toxicity or NLI model fine-tuned in house, or
one copied from a hub by hand): ``SequenceClassifier(path).predict_proba(texts)``. Nothing is
ever downloaded: the directory must hold ``config.json``, the weights and the tokenizer files,
as ``save_pretrained`` writes them. One load per path per process (:func:`get_classifier`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.cache import ModelCache
from schemas.errors import InfersightError

__all__ = ["CheckpointError", "SequenceClassifier", "get_classifier", "label_index"]


class CheckpointError(InfersightError, ValueError):
    """A checkpoint directory that is missing, incomplete, or lacks the asked-for label."""


def label_index(labels: Sequence[str], wanted: str | None, hints: Sequence[str] = ()) -> int:
    """Index of the output ``wanted`` (a label name, case-insensitive, or an index as text).

    With ``wanted=None``: the first label containing one of ``hints`` (``LABEL_1``-style
    names match nothing), else the last label of a two-label model.

    >>> label_index(["non-toxic", "toxic"], None, hints=("toxic",))
    1
    >>> label_index(["LABEL_0", "LABEL_1"], None, hints=("toxic",))
    1
    >>> label_index(["neutral", "toxic"], "TOXIC")
    1
    """
    lowered = [str(label).lower() for label in labels]
    if wanted is not None:
        if wanted.lower() in lowered:
            return lowered.index(wanted.lower())
        if wanted.isdigit() and int(wanted) < len(labels):
            return int(wanted)
        msg = f"label {wanted!r} is not an output of the checkpoint; its labels are {list(labels)}"
        raise CheckpointError(msg)
    for hint in hints:
        exact = [i for i, label in enumerate(lowered) if label == hint.lower()]
        if exact:
            return exact[0]
    for hint in hints:
        partial = [i for i, label in enumerate(lowered) if hint.lower() in label]
        if partial:
            return partial[0]
    if len(labels) == 2:
        return 1
    msg = (
        f"cannot tell which of the checkpoint's labels {list(labels)} to score; "
        "name it with the detector's label parameter"
    )
    raise CheckpointError(msg)


class SequenceClassifier:
    """Batched class probabilities from a local sequence-classification checkpoint.

    Multi-label checkpoints (``problem_type="multi_label_classification"``) get a sigmoid per
    label; all others a softmax over labels.

    Parameters
    ----------
    path
        Directory written by ``save_pretrained`` (model and tokenizer).
    max_length
        Tokens kept per text; longer texts are truncated.
    batch_size
        Texts per forward pass.
    """

    def __init__(self, path: str | os.PathLike[str], max_length: int = 256, batch_size: int = 32):
        directory = Path(path)
        if not (directory / "config.json").is_file():
            msg = (
                f"path {str(path)!r} is not a Hugging Face checkpoint directory "
                "(no config.json); save one with model.save_pretrained(DIR) and "
                "tokenizer.save_pretrained(DIR)"
            )
            raise CheckpointError(msg)
        if max_length < 1:
            msg = f"max_length must be >= 1, got {max_length!r}"
            raise ValueError(msg)
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size!r}"
            raise ValueError(msg)
        self.path = str(directory)
        self.max_length = max_length
        self.batch_size = batch_size
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                try:
                    tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                    model = AutoModelForSequenceClassification.from_pretrained(
                        self.path, local_files_only=True
                    )
                except (OSError, ValueError) as exc:
                    msg = f"cannot load the checkpoint at {self.path!r}: {exc}"
                    raise CheckpointError(msg) from exc
                model.eval()
                self._loaded = (tokenizer, model)
            return self._loaded

    @property
    def labels(self) -> list[str]:
        """Output names in index order, from the checkpoint's ``id2label``."""
        _, model = self._load()
        id2label = model.config.id2label
        return [str(id2label[i]) for i in range(model.config.num_labels)]

    @property
    def multi_label(self) -> bool:
        _, model = self._load()
        return model.config.problem_type == "multi_label_classification"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(texts), number of labels), float32."""
        import torch

        tokenizer, model = self._load()
        if not texts:
            return np.zeros((0, model.config.num_labels), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = model(**batch).logits.float()
                probs = logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)
                out.append(probs.cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_loaded"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"SequenceClassifier(path={self.path!r}, max_length={self.max_length!r}, "
            f"batch_size={self.batch_size!r})"
        )


_shared: ModelCache[tuple[str, int, int], SequenceClassifier] = ModelCache()


def get_classifier(
    path: str | os.PathLike[str], max_length: int = 256, batch_size: int = 32
) -> SequenceClassifier:
    """The process-wide classifier for this checkpoint: it loads once per process."""
    key = (str(Path(path).resolve()), max_length, batch_size)
    return _shared.get(key, lambda: SequenceClassifier(path, max_length, batch_size))
