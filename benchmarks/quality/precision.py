"""What each embedding precision costs the heads that read the shared vectors (issue 13).

The committed toxicity and injection detectors (their heads as packaged in
``detectors/models/``) score the frozen, hand-written field sets
(``benchmarks/quality/fieldsets/toxicity.jsonl`` and ``injection.jsonl``, sha256 checked)
once per embedding precision, through the same ``score_batch`` the worker runs; the AUC of
each precision is set beside fp32's. The budget (issue 13): every precision the start-up
probe may choose changes no AUC by more than 0.005. Also printed: the cosine of each
precision's vectors with fp32's over the same texts (what the probe bounds) and encoding
CPU ms per text.

Run::

    nice python -m benchmarks.quality.precision            # writes reports/precision.md, .json
    nice python -m benchmarks.quality.precision --no-write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FIELDSETS = ROOT / "benchmarks" / "quality" / "fieldsets"
REPORTS = ROOT / "benchmarks" / "quality" / "reports"
BUDGET = 0.005
COMMAND = "nice python -m benchmarks.quality.precision"


def _rows(name: str) -> list[dict[str, Any]]:
    path = FIELDSETS / f"{name}.jsonl"
    want = (FIELDSETS / f"{name}.sha256").read_text().split()[0]
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != want:
        msg = f"{path} changed (sha256 {got[:16]}..., frozen {want[:16]}...): refusing to score"
        raise SystemExit(msg)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _events() -> dict[str, tuple[list[Any], np.ndarray]]:
    from schemas.events import ChatMessage, ContextDocument, InferenceEvent

    tox = _rows("toxicity")
    tox_events = [
        InferenceEvent(
            service="bench", model="m", event_id=r["id"], prompt=r["prompt"], response=r["response"]
        )  # fmt: skip
        for r in tox
    ]
    inj = _rows("injection")
    inj_events = []
    for r in inj:
        prompt: Any = r["prompt"]
        if r.get("system"):
            prompt = [ChatMessage(role="system", content=r["system"]),
                      ChatMessage(role="user", content=r["prompt"])]  # fmt: skip
        docs = [ContextDocument(text=t, id=f"doc{k + 1}") for k, t in enumerate(r["context"])]
        inj_events.append(
            InferenceEvent(
                service=f"field-{r['domain']}",
                model="m",
                event_id=r["id"],
                prompt=prompt,
                context=docs,
            )  # fmt: skip
        )
    return {
        "toxicity": (tox_events, np.array([r["label"] for r in tox])),
        "injection": (inj_events, np.array([r["label"] for r in inj])),
    }


def _score(precision: str, sets: dict[str, tuple[list[Any], np.ndarray]]) -> dict[str, Any]:
    """AUC of each head with every vector computed at ``precision`` (no vector cache)."""
    from sklearn.metrics import roc_auc_score

    from detectors.embedding import configure, get_embedder
    from detectors.injection import InjectionDetector
    from detectors.toxicity import ToxicityDetector

    configure(precision, cache_size=0)  # type: ignore[arg-type]  # a PRECISIONS value
    detectors = {"toxicity": ToxicityDetector(), "injection": InjectionDetector()}
    out: dict[str, Any] = {}
    for name, (events, y) in sets.items():
        scores = np.array([s.score for s in detectors[name].score_batch(events)])
        out[f"{name}_auc"] = float(roc_auc_score(y, scores))
    texts = [e.response for e in sets["toxicity"][0]] + [e.user_text for e in sets["injection"][0]]
    emb = get_embedder()
    emb.encode(texts[:64])  # warm-up
    cpu = time.process_time()
    vectors = np.asarray(emb.encode(texts))
    out["cpu_ms_per_text"] = 1000 * (time.process_time() - cpu) / len(texts)
    out["vectors"] = vectors
    return out


def run() -> dict[str, Any]:
    from detectors.embedding import PRECISIONS

    sets = _events()
    results: dict[str, Any] = {}
    for precision in PRECISIONS:
        try:
            results[precision] = _score(precision, sets)
        except (ImportError, RuntimeError, OSError) as exc:  # the ONNX extra not installed
            results[precision] = {"error": f"{type(exc).__name__}: {exc}"}
    ref = results["fp32"]
    base = ref["vectors"].astype(np.float64)
    for r in results.values():
        if "error" in r:
            continue
        v = r.pop("vectors").astype(np.float64)
        cos = np.sum(v * base, axis=1) / (np.linalg.norm(v, axis=1) * np.linalg.norm(base, axis=1))
        r["cosine_mean"], r["cosine_min"] = float(cos.mean()), float(cos.min())
    for r in results.values():
        for head in ("toxicity", "injection"):
            if f"{head}_auc" in r:
                r[f"{head}_delta"] = r[f"{head}_auc"] - ref[f"{head}_auc"]
        if "error" not in r:
            deltas = [abs(r[f"{h}_delta"]) for h in ("toxicity", "injection")]
            r["within_budget"] = all(d <= BUDGET for d in deltas)
    n = {k: len(v[1]) for k, v in sets.items()}
    return {"results": results, "n": n, "load_end": list(os.getloadavg())}


def markdown(res: dict[str, Any]) -> str:
    from detectors.precision import MIN_COSINE, MIN_COSINE_FLOOR

    load = res["load_end"]
    lines = [
        "# Embedding precision: what it costs the heads (issue 13)",
        "",
        f"Command: `{COMMAND}` (writes this file and precision.json).",
        "",
        f"Data: the frozen field sets, toxicity ({res['n']['toxicity']} responses) and injection "
        f"({res['n']['injection']} user messages and documents), scored by the committed "
        "detectors through `score_batch`, every vector computed at the precision (no cache). "
        f"Budget: |AUC change| <= {BUDGET} against fp32. Load average at the end: "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (CPU ms per text is noisy under load).",
        "",
        "| precision | toxicity AUC | change | injection AUC | change | within budget "
        "| cosine mean | cosine min | CPU ms/text |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for p, r in res["results"].items():
        if "error" in r:
            lines.append(f"| {p} | {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {p} | {r['toxicity_auc']:.4f} | {r['toxicity_delta']:+.4f} "
            f"| {r['injection_auc']:.4f} | {r['injection_delta']:+.4f} "
            f"| {'yes' if r['within_budget'] else '**no**'} | {r['cosine_mean']:.5f} "
            f"| {r['cosine_min']:.5f} | {r['cpu_ms_per_text']:.1f} |"
        )
    lines += [
        "",
        f"The start-up probe (`embedding_precision=auto`, `detectors/precision.py`) admits a "
        f"precision whose mean cosine with fp32 over its probe texts is >= {MIN_COSINE} and "
        f"the lowest >= {MIN_COSINE_FLOOR}, then takes the fastest (by at least 1.1x fp32). "
        "The cosines above are over these field-set texts.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only; keep the report")
    args = ap.parse_args(argv)
    res = run()
    text = markdown(res)
    print(text)
    if not args.no_write:
        (REPORTS / "precision.md").write_text(text, encoding="utf-8")
        (REPORTS / "precision.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
