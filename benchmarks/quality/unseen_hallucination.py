"""Hallucination detection on traffic it was not trained on: HaluEval cross-task folds and the
frozen hand-written field set, with the peers scored on the same rows in the same run.

- Cross-task: for each HaluEval task (QA, dialogue, summarization), a combiner (and its IDF
  table) is trained by ``scripts/train_hallucination.py``'s code on the other two tasks (pairs
  plus RAG-voice variants of their contexts) and scored on held-out test rows of the third.
  The worst fold is the headline.
- Field set: ``benchmarks/quality/fieldsets/hallucination.jsonl`` (426 hand-written RAG
  answers, 14 domains, sha256 checked against ``hallucination.sha256``; never trained or tuned
  on), scored by the shipped detector through ``HallucinationDetector.score_batch``: overall,
  per slice (each slice against every row of the other label) and per domain.
- Peers on the same rows: the lexical baseline "share of the names and numbers in the
  response that are not in the context" (:func:`lexical_score`), and, with ``--with-v0``,
  the detector as it was before issue 10 ("v0": ``benchmarks/quality/hallucination_v0.py``,
  combiner trained on HaluEval QA training rows only; its QA figure is in-distribution, not
  cross-task). v0 embeds every claim and context chunk (about an hour on two shared cores
  without a warm cache under ``build/cache``), so it is off by default.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_hallucination
    HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_hallucination --with-v0

Writes ``benchmarks/quality/reports/hallucination.{md,json}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import train_hallucination as th  # noqa: E402  (path set above)

REPORTS = ROOT / "benchmarks" / "quality" / "reports"
FIELD_SET = ROOT / "benchmarks" / "quality" / "fieldsets" / "hallucination.jsonl"
FIELD_SHA = FIELD_SET.with_suffix(".sha256")
SEED = 5
BATCH = 32
TEST_ROWS = {"qa": 250, "dialogue": 250, "summarization": 80}
COMMAND = "HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_hallucination"


def lexical_score(response: str, context: str) -> float:
    """The lexical peer: the share of the response's capitalised names and numbers that do
    not occur in the context (0 when the response has none). One definition with the
    detector's ``lexical_share`` input (its doctest pins the figures), so the baseline and
    the feature cannot drift apart unnoticed."""
    from detectors.hallucination_relations import lexical_share

    return lexical_share(response, context)


class CachingEncoder:
    """The shared embedder with a text -> vector cache kept on disk between runs (v0 only)."""

    def __init__(self, name: str = "halueval") -> None:
        cache = Path(os.environ.get("INFERSIGHT_CACHE", ROOT / "build" / "cache"))
        cache.mkdir(parents=True, exist_ok=True)
        self.path = cache / f"minilm-fp32-{name}.pkl"
        self.store: dict[str, np.ndarray] = {}
        if self.path.exists():
            self.store = pickle.loads(self.path.read_bytes())
        self.dirty = False

    def __call__(self, texts) -> np.ndarray:
        from detectors.embedding import DIM, get_embedder

        missing = [t for t in dict.fromkeys(texts) if t not in self.store]
        if missing:
            for t, v in zip(missing, get_embedder().encode(missing), strict=True):
                self.store[t] = v
            self.dirty = True
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self.store[t] for t in texts])

    def save(self) -> None:
        if self.dirty:
            self.path.write_bytes(pickle.dumps(self.store, protocol=pickle.HIGHEST_PROTOCOL))
            self.dirty = False


def load_field_set() -> list[dict]:
    """The frozen field set, refused if its bytes differ from the recorded sha256."""
    raw = FIELD_SET.read_bytes()
    expected = FIELD_SHA.read_text().split()[0]
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        msg = f"{FIELD_SET} has sha256 {actual}, but {FIELD_SHA} records {expected}"
        raise ValueError(msg)
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def field_events(rows: list[dict]):
    from schemas.events import ContextDocument, InferenceEvent

    events = [
        InferenceEvent(
            service="fieldset",
            model=r["domain"],
            event_id=r["id"],
            prompt=r["prompt"],
            response=r["response"],
            context=[ContextDocument(text=c) for c in r["context"]],
        )
        for r in rows
    ]
    return events, np.array([r["label"] for r in rows])


def auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def v0_scores(events, encode) -> np.ndarray | None:
    """v0's combiner probability (its score) from v0's own features, embeddings cached;
    None when v0 is not run (``encode`` None)."""
    from benchmarks.quality import hallucination_v0 as v0

    if encode is None:
        return None
    combiner = v0.load_combiner()
    x = []
    for start in range(0, len(events), BATCH):
        rows = v0.extract_features(events[start : start + BATCH], encode=encode)
        x += [r.values for r in rows]
    return combiner.probability(np.array(x))


def lexical_scores(events) -> np.ndarray:
    return np.array(
        [lexical_score(e.response, "\n".join(d.text for d in e.context)) for e in events]
    )


def cross_task(encode) -> dict:
    """Train on two tasks, score the third; the peers on the same test rows."""
    rows_by_task = {t: th.load_rows(t) for t in th.TASKS}
    folds = {}
    models = {}
    for held_out, rows in rows_by_task.items():
        trained_on = [t for t in th.TASKS if t != held_out]
        idf = th.build_idf({t: rows_by_task[t] for t in trained_on})
        x, y, source, _ = th.training_set(trained_on, idf, rows_by_task)
        model = th.fit(x, y, source)
        models[held_out] = (model, idf)
        ids = th.subsample(th.split_ids(len(rows))[2], TEST_ROWS[held_out], SEED)
        events, y_test = th.events_for(held_out, rows, ids)
        ours = model.predict_proba(th.feature_matrix(events, idf))[:, 1]
        v0 = v0_scores(events, encode)
        folds[held_out] = {
            "trained_on": trained_on,
            "events": len(y_test),
            "ours": auc(y_test, ours),
            "lexical": auc(y_test, lexical_scores(events)),
            "v0": auc(y_test, v0) if v0 is not None else None,
        }
        f = folds[held_out]
        print(
            f"cross-task: train {'+'.join(trained_on):<22} test {held_out:<14} n={len(y_test):<4} "
            f"ours {f['ours']:.3f}  lexical {f['lexical']:.3f}  v0 {_fmt(f['v0'])}"
        )
    return {"folds": folds, "models": models}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def per_group(y: np.ndarray, scores: dict[str, np.ndarray], groups: list[str], kind: str):
    """Per slice: the slice's rows against every row of the other label. Per domain: AUC
    within the domain."""
    out = {}
    for g in sorted(set(groups)):
        mask = np.array([x == g for x in groups])
        label = int(y[mask][0])
        if kind == "slice":
            sel = mask | (y != label)
        else:
            sel = mask
        row = {"n": int(mask.sum()), "label": label if kind == "slice" else None}
        for name, s in scores.items():
            row[name] = auc(y[sel], s[sel]) if len(set(y[sel])) == 2 else float("nan")
        out[g] = row
    return out


def field_set(fold_models: dict, encode) -> dict:
    from detectors.hallucination import HallucinationDetector

    rows = load_field_set()
    events, y = field_events(rows)
    det = HallucinationDetector()
    det.score_batch(events[:2])  # load the model and the embedder outside the timed loop
    t0 = time.perf_counter()
    signals = []
    for start in range(0, len(events), BATCH):
        signals += det.score_batch(events[start : start + BATCH])
    seconds = time.perf_counter() - t0
    ours = np.array([s.score for s in signals])
    scores = {"ours": ours, "lexical": lexical_scores(events)}
    v0 = v0_scores(events, encode)
    if v0 is not None:
        scores["v0"] = v0
    fired = ours >= det.threshold
    result = {
        "rows": len(y),
        "unsupported": int(y.sum()),
        "auc": {k: auc(y, v) for k, v in scores.items()},
        "fold_models_auc": {
            f"trained without {t}": auc(y, m.predict_proba(th.feature_matrix(events, idf))[:, 1])
            for t, (m, idf) in fold_models.items()
        },
        "threshold": det.threshold,
        "grounded_fire_rate": float(fired[y == 0].mean()),
        "recall": float(fired[y == 1].mean()),
        "ms_per_event": 1000 * seconds / len(y),
        "per_slice": per_group(y, scores, [r["slice"] for r in rows], "slice"),
        "per_domain": per_group(y, scores, [r["domain"] for r in rows], "domain"),
        "slice_fire_rate": {
            s: float(fired[[r["slice"] == s for r in rows]].mean())
            for s in sorted({r["slice"] for r in rows})
        },
    }
    a = result["auc"]
    print(
        f"field set n={len(y)}: ours {a['ours']:.3f}  lexical {a['lexical']:.3f}  "
        f"v0 {_fmt(a.get('v0'))}; "
        f"threshold {det.threshold:.2f}: {result['grounded_fire_rate']:.1%} of grounded fire, "
        f"recall {result['recall']:.1%}; {result['ms_per_event']:.1f} ms/event"
    )
    for s, r in result["per_slice"].items():
        print(
            f"  slice {s:<18} n={r['n']:<3} label {r['label']}  ours {r['ours']:.3f}  "
            f"lexical {r['lexical']:.3f}  v0 {_fmt(r.get('v0'))}  "
            f"fired {result['slice_fire_rate'][s]:.0%}"
        )
    return result


def cost(rows_per_task: int = 16) -> dict:
    """End-to-end ms per event through score_batch on HaluEval test rows (no cache)."""
    from detectors.hallucination import HallucinationDetector

    det = HallucinationDetector()
    out = {}
    for task in th.TASKS:
        rows = th.load_rows(task)
        ids = th.subsample(th.split_ids(len(rows))[2], rows_per_task, SEED + 1)
        events, _ = th.events_for(task, rows, ids)
        det.score_batch(events[:1])
        t0 = time.perf_counter()
        for start in range(0, len(events), BATCH):
            det.score_batch(events[start : start + BATCH])
        out[task] = 1000 * (time.perf_counter() - t0) / len(events)
        print(f"cost: {task:<14} {out[task]:.1f} ms/event (batches of {BATCH})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-report", action="store_true", help="print only")
    parser.add_argument("--with-v0", action="store_true", help="also score v0 (slow)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    encode = CachingEncoder() if args.with_v0 else None
    cross = cross_task(encode)
    field = field_set(cross["models"], encode)
    if encode is not None:
        encode.save()
    ms = cost()
    folds = cross["folds"]
    worst = min(folds, key=lambda t: folds[t]["ours"])
    print(
        f"worst cross-task fold: {worst} ours {folds[worst]['ours']:.3f} "
        f"(lexical {folds[worst]['lexical']:.3f}, v0 {_fmt(folds[worst]['v0'])})"
    )
    env = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    if not args.no_report:
        write_reports(folds, worst, field, ms, env)
    return 0


def write_reports(folds: dict, worst: str, field: dict, ms: dict, env: str) -> None:
    manifest = json.loads((ROOT / "detectors/models/hallucination/manifest.json").read_text())
    a = field["auc"]
    lines = [
        "# Hallucination detection on unseen traffic",
        "",
        f"Command: `{COMMAND}`",
        "",
        f"Machine: {env}. Shipped combiner `{manifest['sha256'][:16]}` "
        "(scripts/train_hallucination.py: claim-level lexical checks against the aligned "
        "context sentence, a non-negative logistic regression trained on HaluEval QA, dialogue "
        "and summarization training rows, RAG-voice variants of their contexts and one-detail "
        "contrasts of their right answers). Field set "
        f"sha256 `{FIELD_SHA.read_text().split()[0][:16]}`, never trained or tuned on. "
        "Peers on the same rows in the same run: `lexical` = share of the response's names "
        "and numbers absent from the context; `v0` = the detector before issue 10 (combiner "
        "trained on HaluEval QA only; `-` = not run, it needs `--with-v0`).",
        "",
        "## Cross-task (HaluEval): train on two tasks, test on the third",
        "",
        "| held-out task | trained on | events | ours | lexical | v0 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += _fold_lines(folds, worst)
    lines += [
        "",
        f"Test rows: seeded subsamples (`default_rng({SEED})`) of each task's 20 % test split, "
        "two events per row (right and hallucinated answer).",
        "",
        "## Field set (426 hand-written RAG answers, 14 domains)",
        "",
        "| detector | AUC |",
        "| --- | --- |",
        f"| ours (shipped) | {a['ours']:.3f} |",
        f"| lexical baseline | {a['lexical']:.3f} |",
        f"| v0 | {_fmt(a.get('v0'))} |",
    ]
    for name, v in field["fold_models_auc"].items():
        lines.append(f"| ours, fold model {name} | {v:.3f} |")
    lines += _field_detail_lines(field)
    lines += [
        "",
        "## Cost",
        "",
        f"End to end through `score_batch`, batches of {BATCH}, no embedding cache: field set "
        f"{field['ms_per_event']:.1f} ms/event (its answers share contexts, 5-7 per context); "
        + "; ".join(f"HaluEval {t} {v:.1f} ms/event" for t, v in ms.items())
        + ".",
        "",
    ]
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "hallucination.md").write_text("\n".join(lines))
    (REPORTS / "hallucination.json").write_text(
        json.dumps(
            {"command": COMMAND, "machine": env, "cross_task": folds, "worst_fold": worst,
             "field_set": field, "cost_ms_per_event": ms},
            indent=2,
        )
        + "\n"
    )  # fmt: skip


def _fold_lines(folds: dict, worst: str) -> list[str]:
    """One table row per held-out task."""
    lines = []
    for task, f in folds.items():
        mark = " (worst)" if task == worst else ""
        v0_note = " (in-distribution for v0)" if task == "qa" and f["v0"] is not None else ""
        lines.append(
            f"| {task}{mark} | {' + '.join(f['trained_on'])} | {f['events']} | "
            f"{f['ours']:.3f} | {f['lexical']:.3f} | {_fmt(f['v0'])}{v0_note} |"
        )
    return lines


def _field_detail_lines(field: dict) -> list[str]:
    """The field set's threshold figures, per-slice and per-domain tables."""
    lines: list[str] = []
    lines += [
        "",
        f"At the default threshold {field['threshold']:.2f} (set on the HaluEval calibration "
        f"split): {field['grounded_fire_rate']:.1%} of the 239 grounded answers fire; recall "
        f"{field['recall']:.1%} of the 187 unsupported ones.",
        "",
        "Per slice: AUC of the slice's rows against every row of the other label; `fired` is "
        "the share of the slice at or above the default threshold.",
        "",
        "| slice | label | n | ours | lexical | v0 | fired |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s, r in sorted(field["per_slice"].items(), key=lambda kv: (kv[1]["label"], kv[0])):
        lines.append(
            f"| {s} | {r['label']} | {r['n']} | {r['ours']:.3f} | {r['lexical']:.3f} | "
            f"{_fmt(r.get('v0'))} | {field['slice_fire_rate'][s]:.0%} |"
        )
    lines += [
        "",
        "Per domain (AUC within the domain):",
        "",
        "| domain | n | ours | lexical | v0 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for d, r in field["per_domain"].items():
        lines.append(
            f"| {d} | {r['n']} | {r['ours']:.3f} | {r['lexical']:.3f} | {_fmt(r.get('v0'))} |"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
