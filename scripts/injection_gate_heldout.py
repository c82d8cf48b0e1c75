"""Held-out check of the injection document gate: trained without three sources, how many
of their documents reach the head?

The gate (``scripts/train_injection_gate.py``) is refitted without the hand-written set,
the templates and bastioncorpus; its threshold is chosen by the same rule; then the script
prints which share of documents pass the lexical prefilter, the gate, or either: the
hand-written benign and injected documents, 200 documents of each kind from the older
template lists (``scripts/injection_templates.py``) on HaluEval passages the gate never
saw, bastioncorpus, and 800 HaluEval QA passages. The frozen field set is never read.

Run from the repository root::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/injection_gate_heldout.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

HELD_OUT = ("handwritten", "templates", "bastioncorpus")


def _report(name: str, model: object, threshold: float, docs: list[str]) -> None:
    import train_injection_gate as gate

    from detectors.injection_lexical import suspicious

    p = gate.document_probability(model, docs)
    lex = np.array([suspicious(d) for d in docs])
    print(
        f"{name:<26} n={len(docs):<4} gate {np.mean(p >= threshold):.3f}  lexical "
        f"{lex.mean():.3f}  either {np.mean((p >= threshold) | lex):.3f}"
    )


def main() -> int:
    import injection_templates as tpl
    import train_injection
    import train_injection_gate as gate
    from sklearn.linear_model import LogisticRegression

    from detectors.injection_gate import vectorizer

    sources, _ = train_injection.load_sources()
    held = {k: sources.pop(k) for k in HELD_OUT}
    texts, y = gate.gate_corpus(sources)
    model = LogisticRegression(
        C=gate.C, max_iter=3000, class_weight="balanced", random_state=gate.GATE_SEED
    ).fit(vectorizer().transform(texts), y)
    cal = gate.gate_calibration()
    threshold, rates = gate.choose({k: gate.document_probability(model, v) for k, v in cal.items()})
    print(f"gate without {HELD_OUT}: threshold {threshold}, calibration pass rates {rates}")
    path = ROOT / "scripts" / "data" / "injection_handwritten.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for kind in ("doc", "doc_injection"):
        _report(
            f"handwritten {kind}", model, threshold, [r["text"] for r in rows if r["kind"] == kind]
        )
    rng = random.Random(5)
    passages = gate._passages()[1500:2500]
    _report("templates injected", model, threshold, tpl.injected_documents(rng, passages, 200))
    _report("templates benign", model, threshold, tpl.benign_documents(rng, passages, 200))
    b_texts, b_y = held["bastioncorpus"]["train"]
    for label, name in ((1, "bastioncorpus attacks"), (0, "bastioncorpus benign")):
        _report(
            name, model, threshold, [t for t, v in zip(b_texts, b_y, strict=True) if v == label]
        )
    qa = [r["knowledge"] for r in train_injection._halueval("qa")[:800]]
    _report("HaluEval QA passages", model, threshold, qa)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
