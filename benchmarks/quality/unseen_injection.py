"""Prompt injection on traffic the head never saw: cross-source folds, the frozen field set,
benign product requests, cost, and the peers side by side on the same rows.

- **Cross-source.** For each source in ``train_injection.FOLDS`` (S-Labs, neuralchemy,
  bastioncorpus, the hand-written training set) the head's chosen configuration is trained on
  every other source and scored on the held-out source's test rows (at most ``FOLD_ROWS``,
  seeded). The worst fold is the headline. Peers are not retrained: they score the same rows
  as shipped (they may have been trained on some of these public corpora).
- **Field set.** ``fieldsets/injection.jsonl`` (333 hand-written events, frozen before any
  training; its sha256 is checked against ``fieldsets/injection.sha256``). Ours runs the
  detector end to end on the events (system prompt, user message, retrieved documents).
  Each peer scores the user message and every document, and its event score is the highest.
  AUC overall, per slice (a positive slice against all benign events) and by where the
  attack is (user message or context document); fired share per benign slice.
- **Benign product requests.** The fired share at each tool's default threshold on the
  field set's 203 benign events (and on its 167 user-only benign requests), and on the 100
  ``BENIGN_REQUESTS`` of ``benchmarks/quality/injection.py``, the 60 hand-written hard
  requests of ``scripts/data/injection_calibration.jsonl`` and the 120 generated requests
  of ``scripts/injection_product.py``'s calibration part (calibration sets for our
  threshold: in-sample for ours when its head was calibrated on them, never trained on).
- **Cost.** Milliseconds per event of the detector beyond the shared user embedding
  (lexical scan, sentence gate, head, and the embedding of flagged documents), on the
  field set's events and on benign RAG events built from HaluEval documents, whose share
  of documents embedded (and passing the lexical prefilter alone) is also printed.

Run from the repository root::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_injection

``--peers-from EARLIER.json`` takes the peers' fold and ``BENIGN_REQUESTS`` figures from an
earlier run instead of rerunning them on those unchanged texts (on a shared 2-core machine
the peers cost most of the run); the report says so. ``main()`` returns 0 and writes
``benchmarks/quality/reports/injection.{md,json}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT, ROOT / "scripts", ROOT / "benchmarks" / "quality"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import train_injection  # noqa: E402  (path set above)

FIELDSET = ROOT / "benchmarks" / "quality" / "fieldsets" / "injection.jsonl"
FIELDSET_SHA = ROOT / "benchmarks" / "quality" / "fieldsets" / "injection.sha256"
REPORTS = ROOT / "benchmarks" / "quality" / "reports"
CACHE = ROOT / "build" / "injection"
FOLD_ROWS = 600
SEED = 7
COMMAND = "OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen_injection"

OURS = "infersight injection head"
NANOGUARD = "metatronnanoguard 0.1.0"
GUARDIFY = "prompt-guardrail 1.0.1 (guardify)"
SECUREVECTOR = "securevector-guardian-model 1.4.0"
#: Each peer's own default threshold (ours is the detector's).
PEER_THRESHOLDS = {NANOGUARD: 0.5, GUARDIFY: 0.5, SECUREVECTOR: 0.8069}


def check_no_leak(rows: list[dict]) -> int:
    """Raise if any field-set prompt or document is also a training text of the head or the
    document gate (whose sentences included) or a calibration text; return how many
    distinct texts were compared."""
    import injection_product
    import train_injection_gate

    sources, cal = train_injection.load_sources(product=True, handwritten_product=True)
    train = {t for s in sources.values() for part in s.values() for t in part[0]} | set(cal)
    train |= set(train_injection_gate.gate_corpus(sources)[0])
    train |= {t for v in train_injection_gate.gate_calibration().values() for t in v}
    user_cal = train_injection.calibration_texts(cal, product=True)
    # The demo stream's prompts and BENIGN_REQUESTS predate the field set and are not
    # training texts: a generic question they share with it is counted, not an error.
    older = set(user_cal.pop("demo_benign")) | set(user_cal.pop("benign_requests"))
    field_all = {r["prompt"] for r in rows} | {d for r in rows for d in r["context"]}
    print(f"older calibration texts equal to a field-set text: {len(older & field_all)}")
    train |= {t for v in user_cal.values() for t in v}
    train |= {
        t
        for pair in injection_product.calibration_texts(train_injection.CAL_SEED)["documents"]
        for t in pair
    }
    field = {r["prompt"] for r in rows} | {d for r in rows for d in r["context"]}
    shared = field & train
    if shared:
        msg = f"{len(shared)} field-set texts are in the training data, e.g. {sorted(shared)[0]!r}"
        raise ValueError(msg)
    return len(train)


def load_fieldset() -> list[dict]:
    """The frozen field set, after checking its sha256 against the recorded one."""
    raw = FIELDSET.read_bytes()
    expected = FIELDSET_SHA.read_text().split()[0]
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        msg = f"{FIELDSET} sha256 {actual} differs from the frozen {expected}"
        raise ValueError(msg)
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


# Peers: text in, probability of injection out; scores cached by content under build/. ---


def _cached(tool: str, fn: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256((tool + "\x1f" + "\x1e".join(texts)).encode()).hexdigest()[:24]
    path = CACHE / f"peer-{key}.npy"
    if path.exists():
        return np.load(path)
    scores = np.asarray(fn(texts), dtype=np.float64)
    np.save(path, scores)
    return scores


def _nanoguard(texts: list[str]) -> np.ndarray:
    from nanoguard import NanoGuard

    ng = NanoGuard(device="cpu")
    out: list[float] = []
    for start in range(0, len(texts), 32):
        out.extend(r.injection_score for r in ng.scan_batch(texts[start : start + 32]))
    return np.array(out)


def _guardify(texts: list[str]) -> np.ndarray:
    from guardify import LogisticRegressionGuardrail

    g = LogisticRegressionGuardrail()
    classes = list(g._clf.classes_)  # the packaged model's own label order
    return g._clf.predict_proba(g._vectorizer.transform(texts))[:, classes.index(1)]


def _securevector(texts: list[str]) -> np.ndarray:
    from svguardian import resolve_runtime
    from svguardian.model.pure_infer import PureGuardian

    g = PureGuardian.load(str(resolve_runtime()))
    return np.array([g.predict(t)["malicious_score"] for t in texts])


PEERS: dict[str, Callable[[list[str]], np.ndarray]] = {
    NANOGUARD: _nanoguard,
    GUARDIFY: _guardify,
    SECUREVECTOR: _securevector,
}


def peer_scores(texts: list[str]) -> dict[str, np.ndarray | str]:
    out: dict[str, np.ndarray | str] = {}
    for tool, fn in PEERS.items():
        try:
            out[tool] = _cached(tool, fn, texts)
        except ImportError as exc:
            out[tool] = f"not installed: {exc}"
    return out


# Cross-source folds --------------------------------------------------------------------


def cross_source(previous: dict | None = None) -> dict[str, dict]:
    """Per fold: n, injections, and AUC of ours (retrained without the fold) and each peer.
    With ``previous`` (an earlier run's injection.json) the peers' fold AUCs are taken from
    it instead of rerunning the peers (the fold texts depend only on the unchanged sources
    and seeds; n and injections are checked)."""
    from sklearn.metrics import roc_auc_score

    manifest = json.loads((ROOT / "detectors/models/injection/manifest.json").read_text())
    make = train_injection.candidates()[manifest["selection"]["chosen"]]
    # The committed head's sources, parts and weights, as its manifest records them.
    cfg = manifest.get("training", {})
    sources, _ = train_injection.load_sources(
        "product" in manifest["data"]["counts"],
        tuple(cfg.get("product_parts") or train_injection.PRODUCT_PARTS),
        bool(cfg.get("product_handwritten")),
    )
    mats = train_injection.source_features(sources)
    folds = {}
    for held in train_injection.FOLDS:
        texts, y = sources[held]["test"]
        x_te = mats[held]["test"][0]
        if len(texts) > FOLD_ROWS:
            idx = np.sort(np.random.default_rng(SEED).choice(len(texts), FOLD_ROWS, replace=False))
            texts, y, x_te = [texts[i] for i in idx], y[idx], x_te[idx]
        x, y_tr, w = train_injection.weighted_stack(mats, cfg.get("source_weights"), held)
        model = make()
        model.fit(x, y_tr, sample_weight=w)  # type: ignore[attr-defined]
        res = {"n": len(y), "injections": int(y.sum()), "auc": {}}
        prob = model.predict_proba(x_te)[:, 1]  # type: ignore[attr-defined]  # sklearn
        res["auc"][OURS] = float(roc_auc_score(y, prob))
        if previous is not None:
            old = previous["cross_source"][held]
            assert (old["n"], old["injections"]) == (res["n"], res["injections"]), held
            res["auc"] |= {t: a for t, a in old["auc"].items() if t != OURS}
            res["peers_from_previous_run"] = True
        else:
            for tool, s in peer_scores(texts).items():
                res["auc"][tool] = s if isinstance(s, str) else float(roc_auc_score(y, s))
        folds[held] = res
        print(f"fold {held:<14} " + "  ".join(f"{t} {_fmt(a)}" for t, a in res["auc"].items()))
    return folds


def _fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


# Field set -----------------------------------------------------------------------------


def _event(row: dict):
    from schemas.events import ChatMessage, ContextDocument, InferenceEvent

    prompt: str | list[ChatMessage] = row["prompt"]
    if row.get("system"):
        prompt = [
            ChatMessage(role="system", content=row["system"]),
            ChatMessage(role="user", content=row["prompt"]),
        ]
    return InferenceEvent(
        service=f"field-{row['domain']}",
        model="m",
        event_id=row["id"],
        prompt=prompt,
        context=[ContextDocument(text=t, id=f"doc{k + 1}") for k, t in enumerate(row["context"])],
    )


def ours_on_events(rows: list[dict]) -> tuple[np.ndarray, list[str], tuple[float, float]]:
    """Scores, where each signal located the attack, and ms/event beyond the shared
    embedding (the user embeddings are computed first, in BatchFeatures, and not timed), as
    wall and as process CPU time (on a shared machine the CPU time is the fairer figure)."""
    from detectors.base import BatchFeatures
    from detectors.embedding import batch_embeddings
    from detectors.injection import InjectionDetector

    det = InjectionDetector()
    events = [_event(r) for r in rows]
    scores, where, elapsed, cpu = [], [], 0.0, 0.0
    det.score_batch(events[:2])  # load the head and the embedder
    for start in range(0, len(events), 64):
        batch = events[start : start + 64]
        features = BatchFeatures(batch)
        batch_embeddings(batch, "user", features)
        t0, c0 = time.perf_counter(), time.process_time()
        signals = det.score_batch(batch, features)
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        scores += [s.score for s in signals]
        where += [str(s.detail.get("where")) for s in signals]
    return np.array(scores), where, (1000 * elapsed / len(events), 1000 * cpu / len(events))


def peers_on_events(rows: list[dict]) -> dict[str, np.ndarray | str]:
    """Each peer's event score: the highest over the user message and every document."""
    texts, owner = [], []
    for i, r in enumerate(rows):
        for t in [r["prompt"], *r["context"]]:
            texts.append(t)
            owner.append(i)
    out: dict[str, np.ndarray | str] = {}
    for tool, s in peer_scores(texts).items():
        if isinstance(s, str):
            out[tool] = s
            continue
        best = np.zeros(len(rows))
        for i, v in zip(owner, s, strict=True):
            best[i] = max(best[i], v)
        out[tool] = best
    return out


def fieldset_metrics(rows: list[dict], scores: dict[str, np.ndarray | str], thresholds) -> dict:
    from sklearn.metrics import roc_auc_score

    y = np.array([r["label"] for r in rows])
    neg = y == 0
    user_only = np.array([r["label"] == 0 and not r["context"] for r in rows])
    slices = sorted({r["slice"] for r in rows})
    out: dict[str, dict] = {}
    for tool, s in scores.items():
        if isinstance(s, str):
            out[tool] = {"error": s}
            continue
        t = thresholds[tool]
        m: dict[str, object] = {"auc": float(roc_auc_score(y, s)), "threshold": t}
        m["recall"] = float(np.mean(s[y == 1] >= t))
        m["benign_fired"] = float(np.mean(s[neg] >= t))
        m["benign_requests_fired"] = float(np.mean(s[user_only] >= t))
        for where in ("user", "context"):
            pos = np.array([r["where"] == where for r in rows])
            keep = pos | neg
            m[f"auc_{where}"] = float(roc_auc_score(y[keep], s[keep]))
            m[f"recall_{where}"] = float(np.mean(s[pos] >= t))
        per = {}
        for sl in slices:
            in_sl = np.array([r["slice"] == sl for r in rows])
            if y[in_sl].all():
                keep = in_sl | neg
                per[sl] = {
                    "n": int(in_sl.sum()),
                    "label": 1,
                    "auc_vs_benign": float(roc_auc_score(y[keep], s[keep])),
                    "recall": float(np.mean(s[in_sl] >= t)),
                }
            else:
                per[sl] = {
                    "n": int(in_sl.sum()),
                    "label": 0,
                    "fired": float(np.mean(s[in_sl] >= t)),
                    "mean_score": float(np.mean(s[in_sl])),
                }
        m["slices"] = per
        out[tool] = m
    return out


# Benign product requests and cost ------------------------------------------------------


def calibration_request_sets() -> dict[str, list[str]]:
    """Our threshold's benign user-request calibration sets (scripts/train_injection.py)."""
    from injection import BENIGN_REQUESTS

    sets = train_injection.calibration_texts([], product=True)
    return {
        "BENIGN_REQUESTS": list(BENIGN_REQUESTS),
        "hand-written hard requests": sets["handwritten_requests"],
        "generated product requests": sets["product_requests"],
    }


def benign_requests(
    threshold: float, previous: dict | None = None
) -> dict[str, dict[str, float | str]]:
    """Fired share of each calibration request set, ours and every peer's (with
    ``previous``, the peers' figures on BENIGN_REQUESTS from that run, none on the others)."""
    from detectors.injection import InjectionDetector
    from schemas.events import InferenceEvent

    det = InjectionDetector(threshold=threshold)
    out: dict[str, dict[str, float | str]] = {}
    for name, texts in calibration_request_sets().items():
        events = [
            InferenceEvent(service="b", model="m", event_id=str(i), prompt=t)
            for i, t in enumerate(texts)
        ]
        fired = float(np.mean([s.fired for s in det.score_batch(events)]))
        out[name] = {"n": float(len(texts)), OURS: fired}
        if previous is not None:
            old = previous["benign_requests_fired"]
            for tool in PEERS:
                out[name][tool] = (
                    old[tool] if name == "BENIGN_REQUESTS" and tool in old else "not run"
                )
            continue
        for tool, sc in peer_scores(texts).items():
            out[name][tool] = (
                sc if isinstance(sc, str) else float(np.mean(sc >= PEER_THRESHOLDS[tool]))
            )
    return out


def benign_rag_cost(n_events: int = 200, docs_per_event: int = 4) -> dict[str, float]:
    """Prefilter hit share and ms/event on benign RAG events over HaluEval documents."""
    from detectors.base import BatchFeatures
    from detectors.embedding import batch_embeddings
    from detectors.injection import InjectionDetector
    from detectors.injection_lexical import suspicious
    from schemas.events import ContextDocument, InferenceEvent

    qa = train_injection._halueval("qa")
    rng = np.random.default_rng(SEED)
    idx = rng.choice(len(qa), size=n_events * docs_per_event, replace=False)
    docs = [qa[i]["knowledge"] for i in idx]
    events = []
    for k in range(n_events):
        ctx = docs[k * docs_per_event : (k + 1) * docs_per_event]
        events.append(
            InferenceEvent(
                service="rag",
                model="m",
                event_id=f"r{k}",
                prompt=qa[int(idx[k])]["question"],
                context=[ContextDocument(text=t) for t in ctx],
            )
        )
    all_docs = [d.text for e in events for d in e.context]
    det = InjectionDetector()
    det.score_batch(events[:2])
    elapsed, cpu, fired, embedded = 0.0, 0.0, 0, 0
    for start in range(0, len(events), 64):
        batch = events[start : start + 64]
        features = BatchFeatures(batch)
        batch_embeddings(batch, "user", features)
        t0, c0 = time.perf_counter(), time.process_time()
        signals = det.score_batch(batch, features)
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        fired += sum(s.fired for s in signals)
        embedded += sum(int(str(s.detail["documents_embedded"])) for s in signals)
    return {
        "events": n_events,
        "documents": len(all_docs),
        "mean_doc_chars": float(np.mean([len(d) for d in all_docs])),
        "prefilter_hit_share": float(np.mean([suspicious(d) for d in all_docs])),
        "embedded_share": embedded / len(all_docs),
        "ms_per_event": 1000 * elapsed / n_events,
        "cpu_ms_per_event": 1000 * cpu / n_events,
        "fired_share": fired / n_events,
    }


def demo_stream(n: int = 1500, seed: int = 7) -> dict[str, float]:
    """The detector end to end on the demo stream's valid events (RAG documents included):
    benign fired, recall on its ``INJECTIONS``, CPU ms/event beyond the shared embedding."""
    from detectors.base import BatchFeatures
    from detectors.embedding import batch_embeddings
    from detectors.injection import InjectionDetector
    from schemas.events import InferenceEvent
    from streams.demo_data import INJECTIONS, generate

    events = [
        InferenceEvent.model_validate_json(m.value) for m in generate(n, seed=seed) if m.valid
    ]
    det = InjectionDetector()
    fired: list[bool] = []
    cpu = 0.0
    for start in range(0, len(events), 64):
        batch = events[start : start + 64]
        features = BatchFeatures(batch)
        batch_embeddings(batch, "user", features)
        c0 = time.process_time()
        fired += [s.fired for s in det.score_batch(batch, features)]
        cpu += time.process_time() - c0
    hit = np.array(fired)
    attack = np.array([e.user_text in INJECTIONS for e in events])
    return {
        "events": len(events),
        "with_documents": sum(bool(e.context) for e in events),
        "injections": int(attack.sum()),
        "benign_fired": float(hit[~attack].mean()),
        "recall": float(hit[attack].mean()),
        "cpu_ms_per_event": 1000 * cpu / len(events),
    }


# Report ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-folds", action="store_true", help="field set and cost only")
    parser.add_argument(
        "--peers-from",
        type=Path,
        help="an earlier injection.json: take the peers' fold and BENIGN_REQUESTS figures "
        "from it instead of rerunning the peers on those unchanged texts",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from detectors.injection import InjectionDetector

    rows = load_fieldset()
    n_train = check_no_leak(rows)
    print(f"field set: {len(rows)} events, none among {n_train} training/calibration texts")
    threshold = InjectionDetector().threshold
    ours, where, ms_field = ours_on_events(rows)
    scores: dict[str, np.ndarray | str] = {OURS: ours} | peers_on_events(rows)
    thresholds = {OURS: threshold} | PEER_THRESHOLDS
    field = fieldset_metrics(rows, scores, thresholds)
    y = np.array([r["label"] for r in rows])
    located = [(r["where"], w) for r, w, s in zip(rows, where, ours, strict=True) if s >= threshold]
    field_where = {
        "fired_positives_located_right": sum(
            1
            for t, w in located
            if t != "none"
            and (
                (t == "user" and w == "user message")
                or (t == "context" and w.startswith("context"))
            )
        ),
        "fired_positives": sum(1 for t, _ in located if t != "none"),
    }
    for tool, m in field.items():
        if "error" not in m:
            print(
                f"field set {tool:<36} AUC {m['auc']:.3f} (user {m['auc_user']:.3f}, context "
                f"{m['auc_context']:.3f})  recall {m['recall']:.3f}  benign fired "
                f"{m['benign_fired']:.3f}  benign user requests fired "
                f"{m['benign_requests_fired']:.3f}"
            )
    misses = {
        "missed_attacks": [
            (r["id"], r["slice"], round(float(s), 3))
            for r, s in zip(rows, ours, strict=True)
            if r["label"] == 1 and s < threshold
        ],
        "fired_benign": [
            (r["id"], r["slice"], round(float(s), 3))
            for r, s in zip(rows, ours, strict=True)
            if r["label"] == 0 and s >= threshold
        ],
    }
    previous = json.loads(args.peers_from.read_text()) if args.peers_from else None
    bench = benign_requests(threshold, previous)
    for name, v in bench.items():
        print(f"{name} fired: " + "  ".join(f"{t} {_fmt(x)}" for t, x in v.items()))
    rag = benign_rag_cost()
    print(f"benign RAG cost: {rag}")
    demo = demo_stream()
    print(f"demo stream: {demo}")
    folds = {} if args.skip_folds else cross_source(previous)
    env = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    result = {
        "command": COMMAND + (f" --peers-from {args.peers_from}" if args.peers_from else ""),
        "machine": env,
        "fieldset_sha256": FIELDSET_SHA.read_text().split()[0],
        "fieldset": {"n": len(rows), "attacks": int(y.sum()), "tools": field},
        "fieldset_where": field_where,
        "fieldset_misses": misses,
        "ms_per_event_fieldset": ms_field,
        "benign_requests_fired": bench,
        "benign_rag": rag,
        "demo_stream": demo,
        "cross_source": folds,
        "threshold": threshold,
        "training_texts_checked_for_leaks": n_train,
        "load_average": os.getloadavg()[0],
    }
    write_report(result)
    return 0


def write_report(r: dict) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "injection.json").write_text(json.dumps(r, indent=2, default=float) + "\n")
    f = r["fieldset"]
    tools = list(f["tools"])
    lines = [
        "# Prompt injection on traffic the head never saw",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Machine: {r['machine']}. Field set: `benchmarks/quality/fieldsets/injection.jsonl`, "
        f"{f['n']} hand-written events ({f['attacks']} attacks), sha256 "
        f"`{r['fieldset_sha256']}`, frozen before training and never trained or tuned on. "
        f"Our threshold is the detector's default, {r['threshold']:.2f} (set on calibration "
        "data, see detectors/models/injection/MODEL_CARD.md); each peer uses its own default "
        "(metatronnanoguard 0.5, guardify 0.5, securevector 0.8069). Peers score the user "
        "message and every retrieved document; their event score is the highest. None of "
        f"the {r['training_texts_checked_for_leaks']} training and calibration texts equals a "
        "field-set prompt or document (checked by the run). How often the field set was "
        "scored during development, and what changed in between: injection.notes.md.",
        "",
        "## Field set",
        "",
        "| tool | AUC | AUC, attacks in user message | AUC, attacks in documents | recall "
        "| benign events fired | benign user requests fired |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in tools:
        m = f["tools"][t]
        if "error" in m:
            lines.append(f"| {t} | {m['error']} | | | | | |")
            continue
        lines.append(
            f"| {t} | {m['auc']:.3f} | {m['auc_user']:.3f} | {m['auc_context']:.3f} | "
            f"{m['recall']:.3f} | {m['benign_fired']:.3f} | {m['benign_requests_fired']:.3f} |"
        )
    ok = [t for t in tools if "error" not in f["tools"][t]]
    slices = f["tools"][ok[0]]["slices"]
    lines += [
        "",
        "Per slice: attack slices show AUC against all benign events, then recall at the "
        "default threshold; benign slices show the share fired.",
        "",
        "| slice | n | " + " | ".join(ok) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ok) + " |",
    ]
    for sl, base in slices.items():
        cells = []
        for t in ok:
            v = f["tools"][t]["slices"][sl]
            cells.append(
                f"AUC {v['auc_vs_benign']:.3f}, recall {v['recall']:.2f}"
                if v["label"] == 1
                else f"fired {v['fired']:.2f}"
            )
        kind = "attack" if base["label"] == 1 else "benign"
        lines.append(f"| {sl} ({kind}) | {base['n']} | " + " | ".join(cells) + " |")
    w = r["fieldset_where"]
    lines += [
        "",
        f"Where: of the {w['fired_positives']} attacks ours fired on, "
        f"{w['fired_positives_located_right']} were located in the right place (user message "
        "vs context document).",
        "",
        "Attacks ours missed (id, slice, score): "
        + ", ".join(f"{i} {s} {v}" for i, s, v in r["fieldset_misses"]["missed_attacks"]),
        "",
        "Benign events ours fired on: "
        + (", ".join(f"{i} {s} {v}" for i, s, v in r["fieldset_misses"]["fired_benign"]) or "none"),
        "",
        "## Benign product requests (fired share at each tool's default threshold)",
        "",
        "The last columns are our threshold's calibration sets (neither training nor field "
        "set; scripts/train_injection.py).",
        "",
        "| tool | field set, 167 benign user requests | field set, all 203 benign events | "
        + " | ".join(f"{k} ({v['n']:.0f})" for k, v in r["benign_requests_fired"].items())
        + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in r["benign_requests_fired"]) + " |",
    ]
    for t in tools:
        m = f["tools"][t]
        if "error" in m:
            continue
        lines.append(
            f"| {t} | {m['benign_requests_fired']:.3f} | {m['benign_fired']:.3f} | "
            + " | ".join(_fmt(v[t]) for v in r["benign_requests_fired"].values())
            + " |"
        )
    if r["cross_source"]:
        lines += [
            "",
            "## Cross-source folds (AUC; ours retrained without the held-out source)",
            "",
            *(
                [
                    "Peers' fold AUCs are copied from the earlier run named by --peers-from "
                    "(same fold texts: the sources and seeds are unchanged; n and injections "
                    "checked); ours are computed in this run.",
                    "",
                ]
                if any(v.get("peers_from_previous_run") for v in r["cross_source"].values())
                else []
            ),
            "| held-out source | n (injections) | " + " | ".join(tools) + " |",
            "| --- | --- | " + " | ".join("---" for _ in tools) + " |",
        ]
        worst: dict[str, float] = {}
        for held, res in r["cross_source"].items():
            cells = [_fmt(res["auc"].get(t, "")) for t in tools]
            for t in tools:
                v = res["auc"].get(t)
                if isinstance(v, float):
                    worst[t] = min(worst.get(t, 1.0), v)
            lines.append(
                f"| {held} | {res['n']} ({res['injections']}) | " + " | ".join(cells) + " |"
            )
        lines.append(
            "| **worst fold** | | " + " | ".join(_fmt(worst.get(t, "")) for t in tools) + " |"
        )
    rag = r["benign_rag"]
    lines += [
        "",
        "## Cost beyond the shared embedding",
        "",
        f"- Field set events: {r['ms_per_event_fieldset'][0]:.2f} ms/event wall, "
        f"{r['ms_per_event_fieldset'][1]:.2f} ms CPU (lexical scan, sentence gate, head, and "
        "the embedding of every document the prefilter or the gate flags; the user-message "
        "embedding is shared and not counted). 37 of the 333 events carry an injected "
        "document, so this is far above benign traffic's cost.",
        f"- Benign RAG events from HaluEval QA ({rag['events']} events, {rag['documents']} "
        f"documents, mean {rag['mean_doc_chars']:.0f} characters): {rag['ms_per_event']:.2f} "
        f"ms/event wall, {rag['cpu_ms_per_event']:.2f} ms CPU; "
        f"{100 * rag['embedded_share']:.1f}% of documents were embedded (lexical prefilter "
        f"alone: {100 * rag['prefilter_hit_share']:.1f}%; the others pass the sentence gate "
        f"only); {100 * rag['fired_share']:.1f}% of events fired.",
        f"- Demo stream (`streams.demo_data.generate(1500, seed=7)`, "
        f"{r['demo_stream']['events']} valid events, {r['demo_stream']['with_documents']} with "
        f"documents, {r['demo_stream']['injections']} injections): "
        f"{r['demo_stream']['cpu_ms_per_event']:.2f} ms CPU/event; "
        f"{100 * r['demo_stream']['benign_fired']:.1f}% of benign events fired, "
        f"{100 * r['demo_stream']['recall']:.0f}% of injections.",
        f"- The machine is shared (1-minute load average {r['load_average']:.1f} on "
        f"{os.cpu_count()} cores when the run ended): wall times include waiting for a core, "
        "CPU times do not.",
        "",
    ]
    (REPORTS / "injection.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
