"""PII leak detection on hand-written RAG and chat traffic, against presidio + spaCy.

Data: ``benchmarks/quality/fieldsets/pii_leak.jsonl``, 229 events written by hand before the
leak policy was tuned, frozen (its sha256 is checked; a different file is refused). A system
fires or not per event; the label says whether the response leaks. F2 weighs recall twice.

Systems, in one run on the same events:

- ``pii`` (default): regex + checksums + libphonenumber, judged by the leak policy
  (``detectors/pii_policy.yaml``);
- ``pii_ner``: the same plus presidio's spaCy NER (names), same policy;
- peer ``presidio+spaCy``: presidio's default analyzer on the full ``en_core_web_sm``; an
  event fires when the response holds relevant PII (PERSON, LOCATION, EMAIL_ADDRESS,
  PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, US_SSN, IP_ADDRESS, US_BANK_NUMBER, CRYPTO) whose
  text the prompt did not contain.

Throughput is events per second, best of ``--repeats`` interleaved runs on the events
repeated ``--copies`` times, batched: the default detector scans every text field of an event
(prompt, response, context, metadata, ids) and applies the policy; presidio's
BatchAnalyzerEngine reads the same fields (and, as its leak check needs, the response only).

Also: secret recall on the generated secret corpus (``secret_corpus.py``, two seeds) and
false positives on code that talks about secrets without holding one.

Run::

    python -m benchmarks.quality.pii_leak
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).parent
FIELDSET = HERE / "fieldsets" / "pii_leak.jsonl"
SHA_FILE = HERE / "fieldsets" / "pii_leak.sha256"
REPORTS = HERE / "reports"
PEER_ENTITIES = (
    "PERSON", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
    "US_SSN", "IP_ADDRESS", "US_BANK_NUMBER", "CRYPTO",
)  # fmt: skip


def load() -> list[dict[str, Any]]:
    raw = FIELDSET.read_bytes()
    want = SHA_FILE.read_text().split()[0]
    got = hashlib.sha256(raw).hexdigest()
    if got != want:
        msg = f"{FIELDSET} has sha256 {got}, but the frozen set is {want}: refusing to score"
        raise SystemExit(msg)
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def to_event(row: dict[str, Any]) -> Any:
    from schemas.events import InferenceEvent

    return InferenceEvent(
        service="bench", model="m", event_id=row["id"], prompt=row["prompt"],
        context=row["context"], response=row["response"], user_id=row["user_id"],
        metadata=row["metadata"],
    )  # fmt: skip


def event_fields(e: Any) -> list[str]:
    from detectors.pii import event_texts

    return [t for _, t in event_texts(e)]


def presidio_peer() -> tuple[Callable[[Sequence[Any]], list[bool]], Any]:
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from detectors.pii_ner import _offline_tldextract, model_path

    _offline_tldextract()
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model_path()}]}
    analyzer = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine())
    batch = BatchAnalyzerEngine(analyzer)

    def fired(events: Sequence[Any]) -> list[bool]:
        responses = [e.response for e in events]
        results = batch.analyze_iterator(
            responses, language="en", entities=list(PEER_ENTITIES), batch_size=64
        )
        out = []
        for e, found in zip(events, results, strict=True):
            prompt = e.prompt_text.lower()
            out.append(any(e.response[r.start : r.end].lower() not in prompt for r in found))
        return out

    return fired, batch


def prf(pred: Sequence[bool], gold: Sequence[int]) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum((not p) and g for p, g in zip(pred, gold, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    return {"f2": f2, "precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn}


def breakdown(rows: list[dict[str, Any]], pred: Sequence[bool]) -> dict[str, Any]:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    by_slice: dict[str, list[bool]] = defaultdict(list)
    for r, p in zip(rows, pred, strict=True):
        by_kind[r["kind"]].append(p)
        by_slice[f"{r['slice']} ({'leak' if r['label'] else 'negative'})"].append(p)
    return {
        # for a leak kind: recall; for "none": the false-positive rate
        "fired_rate_by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
        "n_by_kind": {k: len(v) for k, v in sorted(by_kind.items())},
        "fired_rate_by_slice": {k: sum(v) / len(v) for k, v in sorted(by_slice.items())},
        "n_by_slice": {k: len(v) for k, v in sorted(by_slice.items())},
    }


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def secrets_figures() -> dict[str, Any]:
    from benchmarks.quality.secret_corpus import code_negatives, generate
    from detectors.pii import find_all
    from detectors.pii_patterns import SECRET_TYPES

    out: dict[str, Any] = {}
    for seed in (20261129, 7):
        corpus = generate(2000, seed=seed)
        missed: Counter[str] = Counter()
        for s in corpus:
            at = s.text.find(s.value)
            spans = [f for f in find_all(s.text, "t") if f.type in SECRET_TYPES]
            if not any(f.start <= at and f.end >= at + len(s.value) for f in spans):
                missed[f"{s.provider}/{s.form}"] += 1
        out[f"seed {seed}"] = {
            "n": len(corpus), "recall": 1 - sum(missed.values()) / len(corpus),
            "missed": dict(missed.most_common(10)),
        }  # fmt: skip
    negatives = code_negatives()
    flagged = [t for t in negatives if any(f.type in SECRET_TYPES for f in find_all(t, "t"))]
    out["code_negatives"] = {"n": len(negatives), "false_positives": len(flagged),
                             "rate": len(flagged) / len(negatives)}  # fmt: skip
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--copies", type=int, default=4, help="events repeated for timing")
    ap.add_argument("--no-write", action="store_true", help="print only; keep the report")
    args = ap.parse_args(argv)

    from detectors.pii import RegexPIIDetector
    from detectors.pii_ner import NERPIIDetector

    rows = load()
    events = [to_event(r) for r in rows]
    gold = [int(r["label"]) for r in rows]
    pii = RegexPIIDetector()
    ner = NERPIIDetector()
    peer, peer_batch = presidio_peer()

    signals = {"pii (default)": pii.score_batch(events), "pii_ner": ner.score_batch(events)}
    preds: dict[str, list[bool]] = {k: [s.fired for s in v] for k, v in signals.items()}
    preds["presidio+spaCy (peer)"] = peer(events)

    results: dict[str, Any] = {}
    for name, pred in preds.items():
        results[name] = {**prf(pred, gold), **breakdown(rows, pred)}
    for name, sigs in signals.items():  # does a caught leak carry the right kind?
        caught = [(r, s) for r, s in zip(rows, sigs, strict=True) if r["label"] and s.fired]
        right = sum(s.detail.get("kind") == r["kind"] for r, s in caught)
        results[name]["kind_agreement_on_caught_leaks"] = right / len(caught) if caught else 0.0

    # -- throughput ------------------------------------------------------------------------
    timed = events * args.copies
    all_texts = [t for e in timed for t in event_fields(e)]
    responses = [e.response for e in timed]

    def run_peer(texts: list[str]) -> None:
        list(peer_batch.analyze_iterator(texts, language="en", entities=list(PEER_ENTITIES),
                                         batch_size=64))  # fmt: skip

    from detectors.pipeline import ScoringPipeline

    pipeline = ScoringPipeline([pii], hash_salt="benchmark-salt-0123456789")
    pii.score_batch(timed[:50])
    pipeline.score(timed[:50])
    run_peer(all_texts[:50])
    t_pii = t_pipe = t_peer_all = t_peer_resp = float("inf")
    for _ in range(args.repeats):  # interleaved: the machine is shared
        t_pii = min(t_pii, best_of(lambda: pii.score_batch(timed), 1))
        t_pipe = min(t_pipe, best_of(lambda: pipeline.score(timed), 1))
        t_peer_all = min(t_peer_all, best_of(lambda: run_peer(all_texts), 1))
        t_peer_resp = min(t_peer_resp, best_of(lambda: run_peer(responses), 1))
    n = len(timed)
    speed = {
        "events": n,
        "texts_all_fields": len(all_texts),
        "pii_default_events_per_s": n / t_pii,
        "pipeline_default_events_per_s": n / t_pipe,
        "ratio_pipeline_vs_presidio_all_fields": t_peer_all / t_pipe,
        "presidio_batched_all_fields_events_per_s": n / t_peer_all,
        "presidio_batched_response_only_events_per_s": n / t_peer_resp,
        "ratio_vs_presidio_all_fields": t_peer_all / t_pii,
        "ratio_vs_presidio_response_only": t_peer_resp / t_pii,
    }
    secrets = secrets_figures()
    report = {
        "data": {"file": str(FIELDSET.relative_to(HERE.parents[1])), "events": len(rows),
                 "leaks": sum(gold), "sha256": SHA_FILE.read_text().split()[0]},
        "results": results, "speed": speed, "secrets": secrets,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }  # fmt: skip
    text = markdown(report)
    print(text)
    if not args.no_write:
        REPORTS.mkdir(exist_ok=True)
        (REPORTS / "pii_leak.json").write_text(json.dumps(report, indent=2) + "\n")
        (REPORTS / "pii_leak.md").write_text(text)
    return 0


def markdown(report: dict[str, Any]) -> str:
    d, res, sp, sec = report["data"], report["results"], report["speed"], report["secrets"]
    lines = [
        "# PII leak detection: hand-written RAG and chat traffic",
        "",
        "Command: `python -m benchmarks.quality.pii_leak` (writes this file and pii_leak.json).",
        "",
        f"Data: `{d['file']}`, {d['events']} hand-written events, {d['leaks']} leaks, frozen "
        f"before tuning (sha256 `{d['sha256'][:16]}...`, checked on every run).",
        "",
        "| system | leak F2 | precision | recall | TP | FP | FN |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in res.items():
        lines.append(f"| {name} | **{r['f2']:.3f}** | {r['precision']:.3f} | {r['recall']:.3f} "
                     f"| {r['tp']} | {r['fp']} | {r['fn']} |")  # fmt: skip
    lines += ["", "Targets: leak F2 >= 0.85 with precision >= 0.80 (default path).", ""]
    names = list(res)
    lines += ["## By kind (recall for a leak kind; false-positive rate for `none`)", "",
              "| kind | n | " + " | ".join(names) + " |",
              "| --- | --- | " + " | ".join("---" for _ in names) + " |"]  # fmt: skip
    first = res[names[0]]
    for kind, n in first["n_by_kind"].items():
        cells = " | ".join(f"{res[x]['fired_rate_by_kind'][kind]:.2f}" for x in names)
        lines.append(f"| {kind} | {n} | {cells} |")
    lines += ["", "## By slice (fired rate: recall on leak slices, FP rate on negatives)", "",
              "| slice | n | " + " | ".join(names) + " |",
              "| --- | --- | " + " | ".join("---" for _ in names) + " |"]  # fmt: skip
    for sl, n in first["n_by_slice"].items():
        cells = " | ".join(f"{res[x]['fired_rate_by_slice'][sl]:.2f}" for x in names)
        lines.append(f"| {sl} | {n} | {cells} |")
    lines += [
        "",
        "Kind agreement (a caught leak's `detail.kind` equals the label's kind): "
        + ", ".join(f"{k} {v['kind_agreement_on_caught_leaks']:.2f}"
                    for k, v in res.items() if "kind_agreement_on_caught_leaks" in v),
        "",
        "## Throughput (batched, events/s, best of interleaved runs)",
        "",
        f"{sp['events']} events ({sp['texts_all_fields']} text fields).",
        "",
        "| path | events/s | default's speed-up over it |",
        "| --- | --- | --- |",
        f"| pii (default): every field + policy | {sp['pii_default_events_per_s']:,.0f} | 1x |",
        f"| the same + redaction and pseudonyms of every field (ScoringPipeline) | "
        f"{sp['pipeline_default_events_per_s']:,.0f} | - |",
        f"| presidio+spaCy batched, the same fields | "
        f"{sp['presidio_batched_all_fields_events_per_s']:,.0f} | "
        f"{sp['ratio_vs_presidio_all_fields']:.1f}x |",
        f"| presidio+spaCy batched, response only | "
        f"{sp['presidio_batched_response_only_events_per_s']:,.0f} | "
        f"{sp['ratio_vs_presidio_response_only']:.1f}x |",
        "",
        "Target: >= 5x presidio's batched throughput on the default path. With redaction "
        f"included the default path is {sp['ratio_pipeline_vs_presidio_all_fields']:.1f}x "
        "presidio reading the same fields (which redacts nothing).",
        "",
        "## Secrets",
        "",
        "| corpus | n | recall | missed (provider/form) |",
        "| --- | --- | --- | --- |",
    ]  # fmt: skip
    for name, s in sec.items():
        if name.startswith("seed"):
            lines.append(f"| generated, {name} | {s['n']} | **{s['recall']:.4f}** | "
                         f"{s['missed'] or '-'} |")  # fmt: skip
    neg = sec["code_negatives"]
    lines += [
        "",
        f"False positives on code that talks about secrets without holding one: "
        f"**{neg['false_positives']} of {neg['n']}** ({neg['rate']:.3f}).",
        "",
        "The corpus generator (`benchmarks/quality/secret_corpus.py`) and the secret rules were "
        "written together, so its recall is an upper bound; the hand-written `secret` slice of "
        "the leak set above is the independent check. Target: secret recall >= 0.98.",
        "",
        f"Machine: {report['machine']['platform']}, {report['machine']['cpus']} CPUs "
        "(shared with other jobs).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
