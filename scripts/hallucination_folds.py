"""Compare candidate inputs of the hallucination combiner without touching the test rows or
the field set: cross-task folds scored on the held-out task's calibration rows.

Every check of every claim (``detectors.hallucination_features.CLAIM_FEATURES``) is pooled
over an answer's claims both ways, ``NAME_max`` (the worst claim) and ``NAME_mean`` (the
share of claims), beside ``lexical_share`` (the answer's names and numbers absent from the
context). For each candidate set of inputs the combiner is fitted as
``scripts/train_hallucination.py`` fits it, on two tasks' training events (HaluEval pairs,
RAG-voice variants, answer contrasts), and scored on the third task's calibration HaluEval
pairs; then fitted on all three and scored on the whole calibration split and on the
hand-written development sets (``scripts/data/hallucination_dev.py``, ``dev``, and
``hallucination_dev_more.py``, ``more``). Printed: each AUC minus the lexical peer's on the
same rows (calibration AUC as it is), and the weights of the all-task fit. One IDF table (all
tasks' training contexts) serves every fold, unlike the benchmark's fold models. The checks
are cached in ``build/hallucination_folds_v4.npz``.

Run from the repository root (about 6 minutes the first time, seconds after)::

    HF_HUB_OFFLINE=1 nice python scripts/hallucination_folds.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts", ROOT / "scripts" / "data"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import train_hallucination as th  # noqa: E402  (path set above)
from hallucination_data import development_events, development_sets  # noqa: E402

CACHE = ROOT / "build" / "hallucination_folds_v4.npz"
SHIPPED = (
    "novel_name_mean",
    "underived_number_max",
    "number_conflict_max",
    "negation_conflict_max",
    "name_conflict_mean",
    "lexical_share",
)
FIRST_PASS = ("novel_name_max", "underived_number_max", "number_conflict_max",
              "negation_conflict_max")  # fmt: skip
#: Candidate input sets, by name, in the order printed.
CANDIDATES = {
    "first pass (4 inputs)": FIRST_PASS,
    "+ name conflict (max)": (*FIRST_PASS, "name_conflict_max"),
    "+ lexical share": (*FIRST_PASS, "lexical_share"),
    "+ both": (*FIRST_PASS, "name_conflict_max", "lexical_share"),
    "shipped (names pooled by mean)": SHIPPED,
    "shipped + rarest novel word": (*SHIPPED, "novel_rare_max"),
    "shipped + novel content": (*SHIPPED, "novel_content_max"),
    "shipped + misplaced anchor": (*SHIPPED, "anchor_mismatch_max"),
    "shipped + unit mismatch": (*SHIPPED, "unit_mismatch_max"),
    "shipped + unit swap": (*SHIPPED, "unit_swap_max"),
    "shipped + clause number conflict": (*SHIPPED, "clause_number_conflict_max"),
    "shipped + unit swap + clause numbers": (*SHIPPED, "unit_swap_max",
                                             "clause_number_conflict_max"),
}  # fmt: skip


def columns() -> list[str]:
    from detectors.hallucination_features import CLAIM_FEATURES

    pooled = [f"{c}_{how}" for how in ("max", "mean") for c in CLAIM_FEATURES]
    return [*pooled, "lexical_share", "benchmark_lexical"]


def pooled(events, idf) -> np.ndarray:
    """Per event: every claim check pooled by max and by mean, the answer's lexical share,
    and the benchmark's lexical peer (the reference)."""
    from benchmarks.quality.unseen_hallucination import lexical_score
    from detectors.hallucination_features import CLAIM_FEATURES, extract_features

    out = []
    for event, row in zip(events, extract_features(events, relevance=False, idf=idf), strict=True):
        claims = np.array(row.claim_values or [(0.0,) * len(CLAIM_FEATURES)])
        context = "\n".join(d.text for d in event.context)
        out.append(
            [*claims.max(axis=0), *claims.mean(axis=0), row.as_dict()["lexical_share"],
             lexical_score(event.response, context)]
        )  # fmt: skip
    return np.array(out, dtype=np.float64)


def build_cache() -> dict[str, np.ndarray]:
    """Checks, labels and sources of every task's training and calibration events and of the
    development set (computed once, then read from ``CACHE``)."""
    if CACHE.exists():
        return dict(np.load(CACHE))
    rows_by_task = {t: th.load_rows(t) for t in th.TASKS}
    idf = th.build_idf(rows_by_task)
    arrays: dict[str, np.ndarray] = {}
    for task, rows in rows_by_task.items():
        train, cal, _ = th.split_ids(len(rows))
        for split, ids, seed in (
            ("train", th.subsample(train, th.TRAIN_ROWS[task], th.SEED + 1), th.SEED + 2),
            ("cal", th.subsample(cal, th.CALIBRATION_ROWS[task], th.SEED + 3), th.SEED + 4),
        ):
            events, y, source = th.task_events(task, rows, ids, seed)
            arrays[f"{split}_{task}_x"] = pooled(events, idf)
            arrays[f"{split}_{task}_y"], arrays[f"{split}_{task}_source"] = y, source
            print(f"{split} {task}: {len(y)} events", flush=True)
    for name, cases in development_sets().items():
        events, y = development_events(cases, name)
        arrays[f"{name}_x"], arrays[f"{name}_y"] = pooled(events, idf), y
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE, **arrays)
    return arrays


def _fit(arrays, tasks, cols):
    x = np.vstack([arrays[f"train_{t}_x"][:, cols] for t in tasks])
    y = np.concatenate([arrays[f"train_{t}_y"] for t in tasks])
    source = np.concatenate([arrays[f"train_{t}_source"] for t in tasks])
    return th.fit(x, y, source)


def evaluate(arrays, inputs) -> tuple[dict[str, float], np.ndarray]:
    """AUC minus the lexical peer's per held-out task (its calibration pairs) and on the
    development set, the calibration split's AUC, and the all-task fit's weights."""
    from sklearn.metrics import roc_auc_score as auc

    names = columns()
    cols, ref = [names.index(c) for c in inputs], names.index("benchmark_lexical")
    out = {}
    for held in th.TASKS:
        model = _fit(arrays, [t for t in th.TASKS if t != held], cols)
        x, y = arrays[f"cal_{held}_x"], arrays[f"cal_{held}_y"]
        pairs = arrays[f"cal_{held}_source"] == 0
        p = model.predict_proba(x[pairs][:, cols])[:, 1]
        out[held] = auc(y[pairs], p) - auc(y[pairs], x[pairs, ref])
    model = _fit(arrays, list(th.TASKS), cols)
    cal_x = np.vstack([arrays[f"cal_{t}_x"] for t in th.TASKS])
    cal_y = np.concatenate([arrays[f"cal_{t}_y"] for t in th.TASKS])
    out["calibration AUC"] = auc(cal_y, model.predict_proba(cal_x[:, cols])[:, 1])
    for name in ("dev", "more"):
        x, y = arrays[f"{name}_x"], arrays[f"{name}_y"]
        out[name] = auc(y, model.predict_proba(x[:, cols])[:, 1]) - auc(y, x[:, ref])
    return out, model.coef


def main() -> int:
    from sklearn.metrics import roc_auc_score as auc

    arrays = build_cache()
    ref = columns().index("benchmark_lexical")
    lexical = {
        t: auc(arrays[f"cal_{t}_y"][m], arrays[f"cal_{t}_x"][m, ref])
        for t in th.TASKS
        for m in [arrays[f"cal_{t}_source"] == 0]
    }
    for name in ("dev", "more"):
        lexical[name] = auc(arrays[f"{name}_y"], arrays[f"{name}_x"][:, ref])
    print("lexical peer: " + ", ".join(f"{k} {v:.3f}" for k, v in lexical.items()))
    print("AUC minus the lexical peer's (held-out task's calibration pairs; development set)")
    for name, inputs in CANDIDATES.items():
        res, coef = evaluate(arrays, inputs)
        figures = "  ".join(f"{k} {v:+.3f}" for k, v in res.items() if k != "calibration AUC")
        weights = " ".join(f"{w:.2f}" for w in coef)
        print(f"{name:<32} {figures}  calibration AUC {res['calibration AUC']:.3f}  [{weights}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
