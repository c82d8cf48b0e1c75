"""Look 7's candidates: what recovers the cross-source cost of the product data.

Look 6's ablation (``scripts/injection_product_ablation.py``) found that the product
source's system-prompt drafts and attacks buy the whole calibration gain, at a cost in the
cross-source folds. This script compares, for the candidates of ``scripts/train_injection.py``
(logistic C=1 lexical x4; ``--model mlp``: the MLP with lexical x4), the drafts and
attacks at several sample weights, with and without the hand-written product requests
(``scripts/data/injection_product_handwritten.jsonl``). For each it prints the
leave-one-source-out AUCs, the share of each user-message calibration set fired at 0.90,
0.95 and 0.97 by the head refitted on every source, and the threshold the training rule
would choose on those sets (lowest grid value with every set <= 2%; the RAG calibration
events need the detector and are left to the training run). Never reads the field set.
Run from the repository root (embeddings cached under build/)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/injection_look7_candidates.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import injection_product  # noqa: E402
import train_injection as ti  # noqa: E402

LOGISTIC = "logistic C=1.0 lexical x4"
MLP = "mlp 256 alpha=0.001 lexical x4"
#: name: (product parts, product weight, with the hand-written product requests)
VARIANTS: dict[str, tuple[tuple[str, ...], float, bool]] = {
    "none (look 5)": ((), 1.0, False),
    "drafts+attacks w1": (("drafts", "attacks"), 1.0, False),
    "drafts+attacks w0.5": (("drafts", "attacks"), 0.5, False),
    "drafts+attacks w0.25": (("drafts", "attacks"), 0.25, False),
    "hand-written only": ((), 1.0, True),
    "d+a w1 + hand": (("drafts", "attacks"), 1.0, True),
    "d+a w0.5 + hand": (("drafts", "attacks"), 0.5, True),
    "d+a w0.25 + hand": (("drafts", "attacks"), 0.25, True),
}


def variant_mats(mats: ti.Matrices, masks: dict[str, np.ndarray], spec) -> ti.Matrices:
    parts, _, hand = spec
    m = {n: s for n, s in mats.items() if n not in ("product", "product-handwritten")}
    if parts:
        px, py = mats["product"]["train"]
        keep = np.any([masks[p] for p in parts], axis=0)
        m["product"] = {"train": (px[keep], py[keep])}
    if hand:
        m["product-handwritten"] = mats["product-handwritten"]
    return m


def fired_line(model: ti.Scaled, calx: dict[str, np.ndarray]) -> tuple[str, float]:
    """Fired shares at 0.90/0.95/0.97 per set, and the threshold the 2% rule picks."""
    scores = {n: model.predict_proba(v)[:, 1] for n, v in calx.items()}
    rates = " | ".join(
        " ".join(f"{n[:4]} {np.mean(s >= t):.3f}" for n, s in scores.items())
        for t in (0.9, 0.95, 0.97)
    )
    threshold, _ = ti.choose_threshold(scores, ti.MAX_CAL_FPR_PRODUCT)
    return rates, threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("logistic", "mlp"), default="logistic")
    parser.add_argument("--only", default="", help="variants whose name contains this")
    args = parser.parse_args(argv)
    sources, hard_cal = ti.load_sources(product=True, handwritten_product=True)
    mats = ti.source_features(sources)
    masks = injection_product.kinds(*sources["product"]["train"])
    cal = ti.calibration_texts(hard_cal, product=True)
    calx = {n: ti.features(v) for n, v in cal.items()}
    print("calibration sets:", {n: len(v) for n, v in cal.items()}, flush=True)
    for label in (MLP,) if args.model == "mlp" else (LOGISTIC,):
        make = ti.candidates()[label]
        for name, spec in VARIANTS.items():
            if args.only not in name:
                continue
            m = variant_mats(mats, masks, spec)
            weights = {"product": spec[1]} if spec[1] != 1 else None
            aucs = ti.cross_source(m, make, weights)
            x, y, w = ti.weighted_stack(m, weights)
            model = make()
            model.fit(x, y, sample_weight=w)
            rates, threshold = fired_line(model, calx)
            folds = " ".join(f"{a:.4f}" for a in aucs.values())
            print(f"{label[:8]} {name:<22} worst {min(aucs.values()):.4f}  {folds}", flush=True)
            print(f"    fired at 0.90 | 0.95 | 0.97: {rates}  -> threshold {threshold}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
