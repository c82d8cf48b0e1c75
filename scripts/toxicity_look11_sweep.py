"""The look-11 sweep (``benchmarks/quality/reports/toxicity.notes.md``): for each configuration,
the four cross-source folds refit exactly as the benchmark refits them, and one fit on the
training part scored on the calibration data: the AUC on the 165 first calibration replies and on
the 87 written before look 11, the threshold the calibration rule picks over both, and the
recall there. For comparison only (neither is the rule): "tolerant thr" is the threshold if one
false positive were tolerated in every source (the `hand` split has 82 benign rows, so "at most
1%" means "none" there), and "pooled thr" the lowest threshold at which 1% of all the
benign calibration rows together fire. ``--kinds`` also prints, for the held-out ``compose``
fold, each kind's share of rows scoring at least 0.5 (what makes that fold the worst). The
field set is not read.

Usage::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/toxicity_look11_sweep.py [--kinds] [NAME]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import toxicity_data  # noqa: E402  (path set above)
import toxicity_embed  # noqa: E402
import train_toxicity  # noqa: E402

#: name -> (how many look-11 training replies, in file order (the first 117 were written first,
#: then 43 more abuse and twins, then 20 short benign replies), sample weight of ``hand``)
CONFIGS = {
    "look 10 head": (0, 3.0),
    "+ first 117 look-11 replies (candidate)": (117, 3.0),
    "+ first 160": (160, 3.0),
    "+ all 180 look-11 replies": (180, 3.0),
    "+ all 180, hand 5": (180, 5.0),
}


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def _data(look11: int) -> tuple[list, np.ndarray]:
    trained = toxicity_data.LOOK11_TRAINED
    toxicity_data.LOOK11_TRAINED = look11
    corpus = toxicity_data.load_corpus()
    toxicity_data.LOOK11_TRAINED = trained
    cal = [toxicity_data.is_calibration(e, train_toxicity.CALIBRATION_PERCENT) for e in corpus]
    replies = toxicity_data.load_replies()
    return corpus + replies, np.array(cal + [True] * len(replies))


def _kinds(rows: list, mask: np.ndarray, scores: np.ndarray) -> str:
    """Per kind of the held-out rows: how many, and the share scoring >= 0.5."""
    by: dict[tuple[int, str], list[float]] = defaultdict(list)
    held = [e for e, m in zip(rows, mask, strict=True) if m]
    for e, s in zip(held, scores, strict=True):
        by[(e.label, e.kind)].append(float(s))
    return "; ".join(
        f"{'toxic' if lab else 'benign'} {k} n={len(v)} >=0.5 {np.mean(np.array(v) >= 0.5):.2f}"
        for (lab, k), v in sorted(by.items())
    )


def run(name: str, kinds: bool = False) -> dict[str, float]:
    """One configuration's fold AUCs and calibration figures."""
    look11, hand_weight = CONFIGS[name]
    train_toxicity.SOURCE_WEIGHTS["hand"] = hand_weight
    rows, cal = _data(look11)
    texts = [e.text for e in rows]
    y, src = np.array([e.label for e in rows]), np.array([e.source for e in rows])
    x = toxicity_embed.embed(texts)
    teacher = train_toxicity.teacher_rows()

    def fit(mask: np.ndarray) -> dict:
        part = [t for t, m in zip(texts, mask, strict=True) if m]
        w = train_toxicity.source_weights(src[mask])
        return train_toxicity.fit_with_teachers(x[mask], y[mask], part, w, teacher)

    labelled = np.isin(src, toxicity_data.SOURCE_NAMES)
    out: dict[str, float] = {}
    for held in toxicity_data.SOURCE_NAMES:
        test = src == held
        head = fit(labelled & ~test)
        held_texts = [t for t, m in zip(texts, test, strict=True) if m]
        scores = train_toxicity.predict(head, x[test], held_texts)
        out[held] = _auc(y[test], scores)
        if kinds and held == "compose":
            print(f"{name}, compose fold: {_kinds(rows, test, scores)}", flush=True)
    out["worst"] = min(out.values())
    head = fit(labelled & ~cal)
    scores = train_toxicity.predict(head, x[cal], [t for t, m in zip(texts, cal, strict=True) if m])
    tolerated = train_toxicity.ALWAYS_TOLERATED_FP
    train_toxicity.ALWAYS_TOLERATED_FP = 1  # a variant, for comparison (not the rule)
    out["tolerant thr"] = train_toxicity.choose_threshold(scores, y[cal], src[cal])[0]
    train_toxicity.ALWAYS_TOLERATED_FP = tolerated
    threshold, points = train_toxicity.choose_threshold(scores, y[cal], src[cal])
    groups = np.array([e.group for e, m in zip(rows, cal, strict=True) if m])
    first = (src[cal] == "replies") & ~np.char.startswith(groups.astype(str), "replies-more")
    more = np.char.startswith(groups.astype(str), "replies-more")
    out["replies AUC"] = _auc(y[cal][first], scores[first])
    out["more AUC"] = _auc(y[cal][more], scores[more])
    out["threshold"] = threshold
    benign = y[cal] == 0
    out["pooled thr"] = next(
        (t for t in train_toxicity.THRESHOLD_GRID if (scores[benign] >= t).mean() <= 0.01), 0.99
    )
    out["replies recall"] = points[str(threshold)]["recall_replies"]
    out["split+replies recall"] = points[str(threshold)]["recall"]
    print(f"{name}: operating points {points}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    kinds = "--kinds" in args
    names = [a for a in args if a != "--kinds"] or list(CONFIGS)
    columns = [*toxicity_data.SOURCE_NAMES, "worst", "replies AUC", "more AUC", "threshold"]
    columns += ["tolerant thr", "pooled thr"]
    columns += ["replies recall", "split+replies recall"]
    table = ["| configuration | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for name in names:
        res = run(name, kinds)
        table.append(f"| {name} | " + " | ".join(f"{res[c]:.3f}" for c in columns) + " |")
        print(table[-1], flush=True)
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
