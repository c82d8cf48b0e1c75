"""PII detection quality and speed: our regex path, our NER path, plain Presidio+spaCy.

Data: presidio-evaluator's generated sentences with labeled fake PII
(``PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=42)``), the same
sentences for every system in one run.

Scoring is entity-level: a prediction is a true positive when it has the gold span's type
(after mapping, below) and their character ranges overlap with IoU >= 0.5, matched one to
one; "strict" also requires identical boundaries. Only the types in ``SCORED`` count. Gold
spans of other types (street addresses, dates, ages, titles, zip codes, domains, licences)
are left out, and so is any prediction overlapping one of them, for every system alike;
predictions of types outside ``SCORED`` are ignored. F2 weighs recall twice: a missed name
costs more than a false alarm.

Throughput is texts per second over all sentences, best of ``--repeats`` interleaved runs
(the machine is shared), each system warmed up first.

Run::

    HF_HUB_OFFLINE=1 python -m benchmarks.quality.pii --n 1500

Needs presidio-evaluator (installed with ``--no-deps``: its metadata asks for numpy>=2,
which the project pins below 2; the sentence faker runs on numpy 1.26) and matplotlib.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPORTS = Path(__file__).parent / "reports"

#: gold (generator) type -> scored type
GOLD_MAP = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "NRP": "NRP",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
SCORED = tuple(dict.fromkeys(GOLD_MAP.values()))

Span = tuple[str, int, int]  # (type, start, end)


@dataclass
class Sample:
    text: str
    gold: list[Span]  # scored types only
    excluded: list[tuple[int, int]]  # gold spans of other types


def load_samples(n: int, seed: int) -> list[Sample]:
    from presidio_evaluator.data_generator import PresidioSentenceFaker

    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=seed)
    out = []
    for s in faker.generate_new_fake_sentences(n):
        gold, excluded = [], []
        for sp in s.spans:
            if sp.entity_type in GOLD_MAP:
                gold.append((GOLD_MAP[sp.entity_type], sp.start_position, sp.end_position))
            else:
                excluded.append((sp.start_position, sp.end_position))
        out.append(Sample(s.full_text, gold, excluded))
    return out


# --- systems: each maps a list of texts to a list of predicted spans per text ----------------


def regex_system() -> Callable[[Sequence[str]], list[list[Span]]]:
    from detectors.pii import find_pii

    def run(texts: Sequence[str]) -> list[list[Span]]:
        return [[(f.type, f.start, f.end) for f in find_pii(t, "response")] for t in texts]

    return run


def ner_system(**params: object) -> Callable[[Sequence[str]], list[list[Span]]]:
    from detectors.pii_ner import NERPIIDetector

    det = NERPIIDetector(**params)  # type: ignore[arg-type]  # benchmark-only kwargs

    def run(texts: Sequence[str]) -> list[list[Span]]:
        found = det.find_texts(texts, ["response"] * len(texts))
        return [[(f.type, f.start, f.end) for f in per] for per in found]

    return run


def presidio_system(batched: bool = True) -> Callable[[Sequence[str]], list[list[Span]]]:
    """Presidio's default analyzer (all predefined recognizers) on the full en_core_web_sm."""
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from detectors.pii_ner import _offline_tldextract, model_path

    _offline_tldextract()
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model_path()}]}
    analyzer = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine())
    batch = BatchAnalyzerEngine(analyzer)

    def run(texts: Sequence[str]) -> list[list[Span]]:
        if batched:
            results = batch.analyze_iterator(list(texts), language="en", batch_size=64)
        else:
            results = (analyzer.analyze(t, language="en") for t in texts)
        return [[(r.entity_type, r.start, r.end) for r in per] for per in results]

    return run


# --- scoring -----------------------------------------------------------------------------


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


def score(samples: Sequence[Sample], preds: Sequence[list[Span]], strict: bool = False) -> dict:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for sample, pred in zip(samples, preds, strict=True):
        kept = [
            p
            for p in pred
            if p[0] in SCORED and not any(min(p[2], e) > max(p[1], s) for s, e in sample.excluded)
        ]
        pairs = []
        for i, g in enumerate(sample.gold):
            for j, p in enumerate(kept):
                if g[0] != p[0]:
                    continue
                if strict and (g[1], g[2]) != (p[1], p[2]):
                    continue
                iou = _iou((g[1], g[2]), (p[1], p[2]))
                if iou >= 0.5:
                    pairs.append((iou, i, j))
        used_g: set[int] = set()
        used_p: set[int] = set()
        for _, i, j in sorted(pairs, reverse=True):
            if i not in used_g and j not in used_p:
                used_g.add(i)
                used_p.add(j)
                tp[sample.gold[i][0]] += 1
        for i, g in enumerate(sample.gold):
            if i not in used_g:
                fn[g[0]] += 1
        for j, p in enumerate(kept):
            if j not in used_p:
                fp[p[0]] += 1
    out = {t: _prf(tp[t], fp[t], fn[t]) for t in SCORED}
    out["overall"] = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return out


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f2": f2}


def timed(run: Callable[[Sequence[str]], list[list[Span]]], texts: Sequence[str]) -> float:
    start = time.perf_counter()
    run(texts)
    return time.perf_counter() - start


# --- report ------------------------------------------------------------------------------


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    types = [*SCORED, "overall"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        f2 = [results[name]["quality"][t]["f2"] for t in types]
        ax1.bar([i + k * width for i in range(len(types))], f2, width, label=name)
    ax1.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(types))])
    ax1.set_xticklabels(types, rotation=30, ha="right")
    ax1.set_ylabel("F2 (IoU >= 0.5)")
    ax1.set_ylim(0, 1)
    ax1.legend(fontsize=8)
    ax1.set_title("PII F2 per type")
    ax2.bar(names, [results[n]["texts_per_s"] for n in names], color="C0")
    ax2.set_yscale("log")
    ax2.set_ylabel("texts / s (log)")
    ax2.set_title("throughput")
    ax2.tick_params(axis="x", rotation=30)
    for lbl in ax2.get_xticklabels():
        lbl.set_ha("right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(results: dict, args: argparse.Namespace, n_gold: Counter[str], command: str) -> str:
    peer = results["presidio+spacy (batched)"]
    lines = [
        "# PII detection: quality and throughput",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores "
        "shared with other jobs; Python " + platform.python_version() + ".",
        "",
        f'Data: {args.n} sentences from presidio-evaluator\'s `PresidioSentenceFaker("en_US", '
        f"lower_case_ratio=0.05, random_seed={args.seed})`; scored gold spans: "
        + ", ".join(f"{t} {n_gold[t]}" for t in SCORED)
        + ". Matching: same type and character IoU >= 0.5 (strict: identical boundaries).",
        "",
        "| system | precision | recall | F2 | strict F2 | texts/s | speed vs peer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        q = r["quality"]["overall"]
        lines.append(
            f"| {name} | {q['precision']:.3f} | {q['recall']:.3f} | {q['f2']:.3f} | "
            f"{r['strict']['overall']['f2']:.3f} | {r['texts_per_s']:.0f} | "
            f"{r['texts_per_s'] / peer['texts_per_s']:.1f}x |"
        )
    lines += ["", "F2 per type:", "", "| type | " + " | ".join(results) + " |"]
    lines.append("| --- |" + " --- |" * len(results))
    for t in SCORED:
        row = " | ".join(f"{r['quality'][t]['f2']:.3f}" for r in results.values())
        lines.append(f"| {t} ({n_gold[t]}) | {row} |")
    ours = results["regex+NER fast path (ours)"]
    full = results["regex+NER full text (ours)"]
    per_text = results["presidio+spacy (per text)"]
    f2_gap = ours["quality"]["overall"]["f2"] - peer["quality"]["overall"]["f2"]
    lines += [
        "",
        "## Reading it",
        "",
        f"- Quality: our NER path's F2 is {f2_gap:+.3f} against Presidio+spaCy. Names, "
        "places and organisations come from the same spaCy model, so they nearly tie. "
        "F2 per type, ours minus peer: "
        + ", ".join(
            f"{t} {ours['quality'][t]['f2'] - peer['quality'][t]['f2']:+.3f}" for t in SCORED
        )
        + ". Phones gain from libphonenumber validation of digit runs the regex misses.",
        f"- Speed: the fast path is {ours['texts_per_s'] / peer['texts_per_s']:.1f}x batched "
        f"Presidio and {ours['texts_per_s'] / per_text['texts_per_s']:.1f}x Presidio called "
        "per text (its documented `analyze(text)` use). It gets there by running spaCy's "
        "`ner` component alone (no tagger, parser, lemmatizer), one `nlp.pipe` per batch, "
        "regex first, NER skipped on texts with no capitalised non-stop word outside regex "
        "spans, and NER reading only 8 words around each candidate; presidio's keyword and "
        "context-enhancement passes, which change nothing for the spaCy recognizer, are "
        "skipped. The gate and windows add "
        f"{ours['texts_per_s'] / full['texts_per_s'] - 1:.0%} over running NER on every full "
        "text: these generated sentences are short and nearly all hold a name, so most of "
        "the cost left is the spaCy NER model itself.",
        "- Target (F2 >= Presidio+spaCy at >= 5x its throughput): F2 met; 5x met against "
        "per-text Presidio, missed against batched Presidio (see the ratio above). The "
        "remaining lever is running NER on fewer texts (responses only, or a sample) in "
        "production, which this per-text benchmark does not credit.",
        "",
        "![F2 per type and throughput](pii.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500, help="sentences to generate")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per system (best)")
    parser.add_argument("--out", type=Path, default=REPORTS, help="report directory")
    args = parser.parse_args(argv)

    samples = load_samples(args.n, args.seed)
    texts = [s.text for s in samples]
    n_gold = Counter(g[0] for s in samples for g in s.gold)
    systems = {
        "regex (ours)": regex_system(),
        "regex+NER fast path (ours)": ner_system(),
        "regex+NER full text (ours)": ner_system(gate=False, context_words=None),
        "presidio+spacy (batched)": presidio_system(batched=True),
        "presidio+spacy (per text)": presidio_system(batched=False),
    }
    results: dict[str, dict] = {}
    preds = {}
    for name, run in systems.items():
        run(texts[:20])  # warm up: model load, first-call caches
        preds[name] = run(texts)
        results[name] = {"quality": score(samples, preds[name]),
                         "strict": score(samples, preds[name], strict=True)}  # fmt: skip
    best = {name: float("inf") for name in systems}
    for _ in range(args.repeats):
        for name, run in systems.items():
            best[name] = min(best[name], timed(run, texts))
    for name in systems:
        results[name]["seconds"] = best[name]
        results[name]["texts_per_s"] = len(texts) / best[name]
        q = results[name]["quality"]["overall"]
        print(
            f"{name:30s} P={q['precision']:.3f} R={q['recall']:.3f} F2={q['f2']:.3f} "
            f"strictF2={results[name]['strict']['overall']['f2']:.3f} "
            f"{results[name]['texts_per_s']:8.1f} texts/s"
        )
    command = "HF_HUB_OFFLINE=1 python -m benchmarks.quality.pii " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pii.json").write_text(
        json.dumps(
            {"command": command, "n": args.n, "seed": args.seed, "results": results}, indent=2
        )
        + "\n"  # fmt: skip
    )
    plot(results, args.out / "pii.png")
    (args.out / "pii.md").write_text(markdown(results, args, n_gold, command))
    print(f"wrote {args.out / 'pii.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
