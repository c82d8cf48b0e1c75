"""Hallucination-signal quality on HaluEval: held-out QA and, cross-task, dialogue and
summarization (the combiner was trained on QA only).

Every event goes through ``HallucinationDetector.score_batch`` in batches of 32, so the
throughput is end to end on this machine (sentence splitting, one embedding call per batch,
the combiner). Prints AUC, precision, recall and F1 at the detector's 0.5 threshold and each
feature's own AUC; writes ``benchmarks/quality/reports/hallucination.{md,json,png}``.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice python benchmarks/quality/hallucination.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_hallucination as th  # noqa: E402  (path set above)

REPORTS = ROOT / "benchmarks" / "quality" / "reports"
SEED = 5
BATCH = 32


def evaluate(task: str, n_rows: int) -> dict:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score, roc_curve

    from detectors.hallucination import FEATURES, HallucinationDetector

    rows = th.load_rows(task)
    # QA: only the held-out test rows; other tasks were never used in training at all.
    pool = th.split_ids(len(rows))[1] if task == "qa" else np.arange(len(rows))
    ids = np.sort(
        np.random.default_rng(SEED).choice(pool, size=min(n_rows, len(pool)), replace=False)
    )
    events, y = th.events_for(task, rows, ids)
    det = HallucinationDetector()
    det.score_batch(events[:2])  # load the model outside the timed loop
    t0 = time.perf_counter()
    signals = []
    for start in range(0, len(events), BATCH):
        signals.extend(det.score_batch(events[start : start + BATCH]))
    seconds = time.perf_counter() - t0
    score = np.array([s.score for s in signals])
    pred = score >= det.threshold
    feats = np.array([[s.detail["features"][f] for f in FEATURES] for s in signals])
    fpr, tpr, _ = roc_curve(y, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    result = {
        "rows": len(ids),
        "events": len(y),
        "auc": float(roc_auc_score(y, score)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "events_per_second": len(y) / seconds,
        "seconds": seconds,
        "feature_auc": {f: float(roc_auc_score(y, feats[:, i])) for i, f in enumerate(FEATURES)},
        "roc": [[round(float(fpr[i]), 4), round(float(tpr[i]), 4)] for i in keep],
    }
    print(
        f"{task:<14} n={len(y):<5} AUC {result['auc']:.4f}  P {result['precision']:.3f}  "
        f"R {result['recall']:.3f}  F1 {result['f1']:.3f}  "
        f"{result['events_per_second']:.1f} events/s"
    )
    print("   feature AUCs: " + "  ".join(f"{k} {v:.3f}" for k, v in result["feature_auc"].items()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa-rows", type=int, default=1000)
    parser.add_argument("--dialogue-rows", type=int, default=500)
    parser.add_argument("--summarization-rows", type=int, default=150)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    sizes = {
        "qa": args.qa_rows,
        "dialogue": args.dialogue_rows,
        "summarization": args.summarization_rows,
    }
    results = {task: evaluate(task, n) for task, n in sizes.items()}
    command = (
        "HF_HUB_OFFLINE=1 nice python benchmarks/quality/hallucination.py "
        f"--qa-rows {args.qa_rows} --dialogue-rows {args.dialogue_rows} "
        f"--summarization-rows {args.summarization_rows}"
    )
    env = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    write_reports(results, command, env)
    return 0


def write_reports(results: dict, command: str, env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    REPORTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 5))
    for task, r in results.items():
        pts = np.array(r["roc"])
        label = f"{task}{' (held out)' if task == 'qa' else ' (cross-task)'} AUC {r['auc']:.3f}"
        ax.plot(pts[:, 0], pts[:, 1], label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(
        title="HallucinationDetector on HaluEval",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(REPORTS / "hallucination.png", dpi=110)

    manifest = json.loads((ROOT / "detectors/models/hallucination/manifest.json").read_text())
    lines = [
        "# Hallucination signal quality (HaluEval)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {env}. Combiner `{manifest['sha256'][:16]}` trained on "
        f"{manifest['data']['counts']['train_events']} HaluEval QA training events "
        "(scripts/train_hallucination.py). QA rows are drawn from the held-out test split "
        f"only; dialogue and summarization rows from the whole file (never trained on). Rows "
        f"are subsampled with `numpy.random.default_rng({SEED})`; each row gives two events "
        "(right answer, hallucinated answer), so classes are balanced. Precision/recall/F1 at "
        f"threshold 0.5; throughput is end to end through `score_batch` in batches of {BATCH}.",
        "",
        "| task | events | AUC | precision | recall | F1 | events/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, r in results.items():
        kind = "held out" if task == "qa" else "cross-task"
        lines.append(
            f"| {task} ({kind}) | {r['events']} | {r['auc']:.4f} | {r['precision']:.3f} | "
            f"{r['recall']:.3f} | {r['f1']:.3f} | {r['events_per_second']:.1f} |"
        )
    feats = list(next(iter(results.values()))["feature_auc"])
    lines += [
        "",
        "Each feature's own AUC (above 0.5: larger means more likely hallucinated):",
        "",
        "| task | " + " | ".join(feats) + " |",
        "| --- | " + " | ".join("---" for _ in feats) + " |",
    ]
    for task, r in results.items():
        lines.append(
            f"| {task} | " + " | ".join(f"{r['feature_auc'][f]:.3f}" for f in feats) + " |"
        )
    lines += ["", "![ROC curves](hallucination.png)", ""]
    (REPORTS / "hallucination.md").write_text("\n".join(lines))
    slim = {t: {k: v for k, v in r.items() if k != "roc"} for t, r in results.items()}
    (REPORTS / "hallucination.json").write_text(
        json.dumps({"command": command, "machine": env, "results": slim}, indent=2) + "\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
