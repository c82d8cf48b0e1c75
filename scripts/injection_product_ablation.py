"""Which part of the ``product`` source (``scripts/injection_product.py``) buys what.

For the committed head's candidate (logistic C=1, lexical x4), trains with the product
source left out, whole, or in part, and prints the leave-one-source-out AUCs of
``scripts/train_injection.py`` and the share of each calibration set fired at 0.90, 0.95
and 0.97 by the refitted head (user-message sets only; the RAG events need the detector).
Never reads the field set. Run from the repository root (embeddings cached under build/)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/injection_product_ablation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import injection_product  # noqa: E402
import train_injection as ti  # noqa: E402

CANDIDATE = "logistic C=1.0 lexical x4"


def variants(k: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    none = np.zeros_like(k["attacks"])
    return {
        "none (look 5)": None,
        "all (look 6)": ~none,
        "attacks only": k["attacks"],
        "drafts + attacks": k["drafts"] | k["attacks"],
        "no drafts": ~k["drafts"],
        "no overrides": ~k["overrides"],
    }


def main() -> int:
    sources, hard_cal = ti.load_sources(product=True)
    mats = ti.source_features(sources)
    make = ti.candidates()[CANDIDATE]
    px, py = mats["product"]["train"]
    k = injection_product.kinds(sources["product"]["train"][0], py)
    print({name: int(m.sum()) for name, m in k.items()})
    calx = {n: ti.features(v) for n, v in ti.calibration_texts(hard_cal, product=True).items()}
    for name, sel in variants(k).items():
        m = dict(mats)
        if sel is None:
            m.pop("product")
        else:
            m["product"] = {"train": (px[sel], py[sel])}
        aucs = ti.cross_source(m, make)
        x, y = ti._stack([s["train"] for s in m.values()])
        model = make()
        model.fit(x, y)
        folds = " ".join(f"{h}={a:.4f}" for h, a in aucs.items())
        print(f"{name:<18} worst {min(aucs.values()):.4f}  {folds}", flush=True)
        for t in (0.9, 0.95, 0.97):
            rates = {
                n: round(float(np.mean(model.predict_proba(v)[:, 1] >= t)), 3)
                for n, v in calx.items()
            }  # noqa: E501
            print(f"    fired at {t}: {rates}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
