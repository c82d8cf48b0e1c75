"""Soft and relational evidence for the hallucination detector: how much of a claim its best
context window says in other words, which of its names the aligned sentence attaches to
something else, and the share of the answer's names and numbers the context lacks.

- ``soft_gap``: 1 minus a BERTScore-style precision of the claim against its best window of
  two adjacent context sentences, with the packaged MiniLM's input token vectors (static,
  no transformer pass): each content word of the claim takes its best cosine against the
  window's words, weighted by IDF. A paraphrase ("three weeks" for "21 days", "purchase"
  for "buy") keeps most of its precision; an invented clause loses it.
- ``soft_novel``: the IDF-weighted share of the claim's content words whose best cosine
  against every word of the context and prompt is below :data:`NOVEL_COSINE` (a new idea, not a
  new word for an old one).
- ``name_conflict``: the claim names someone or something the context has, the aligned
  sentence does not, and the aligned sentence names another the claim lacks: the right
  names attached to the wrong fact (a swapped name, a wrong attribution).
- ``lexical_share``: the share of the answer's capitalised names and numbers absent from
  the context (the benchmark's lexical peer, read as one more input so the combiner keeps
  what it ranks).

>>> words = WordVectors.load()
>>> near = words.similarity(["purchase"], ["buy", "ticket"])
>>> bool(near[0, 0] > 0.6 > near[0, 1])
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.cache import ModelCache
from detectors.hallucination_claims import _NAME, _NUMBER_WORDS, _STOP, _WORD, META_WORDS, _stem

__all__ = [
    "NOVEL_COSINE",
    "SOFT_FEATURES",
    "WordVectors",
    "lexical_share",
    "name_conflict",
    "soft_checks",
]

#: What :func:`soft_checks` returns per claim, in order.
SOFT_FEATURES = ("soft_gap", "soft_novel", "name_conflict", "polarity_conflict")
#: A claim word whose best cosine against the whole source is below this is a new idea.
NOVEL_COSINE = 0.5
#: Distinct words of a context (the first ones) whose vectors are compared.
MAX_SOURCE_WORDS = 4000

_LEX_NAME = re.compile(r"\b[A-Z][A-Za-z'\-]+")
_LEX_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_LEX_STOP = frozenset(
    """a an and are as at be but by for from has have he her his i if in is it its my no not
    of on or our she so that the their then there these they this to was we were what when
    which who will with yes you your""".split()
)


def lexical_share(response: str, source: str) -> float:
    """The share of ``response``'s capitalised names and numbers that ``source`` lacks (0
    when it has none): the benchmark's lexical peer.

    >>> lexical_share("Anna paid 40 in Rome.", "Anna paid 40.")
    0.3333333333333333
    """
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", source)}
    numbers = {n.replace(",", "").rstrip(".") for n in _LEX_NUMBER.findall(source)}
    names = [n for n in _LEX_NAME.findall(response) if n.lower() not in _LEX_STOP]
    nums = [n.replace(",", "").rstrip(".") for n in _LEX_NUMBER.findall(response)]
    novel = [n for n in names if n.lower() not in words] + [n for n in nums if n not in numbers]
    total = len(names) + len(nums)
    return len(novel) / total if total else 0.0


#: Words of opposite sense: a claim with one of a pair's words where its aligned sentence has
#: the other (and not the first) says the opposite in other words ("free" where the sentence
#: charges a fee, "optional" where it is "required").
_OPPOSITES = (
    ("free", "charge charged charges cost costs fee fees pay pays paid payable"),
    ("allowed permitted may", "prohibited forbidden banned barred"),
    ("required mandatory must compulsory", "optional voluntary"),
    ("included include includes", "excluded exclude excludes"),
    ("before earlier", "after later"),
    ("minimum least", "maximum most"),
    (
        "increase increased increases raised rises rose higher",
        "decrease decreased decreases reduced reduces cut lower lowered fell",
    ),
    ("more above over exceed exceeds exceeding", "less fewer below under"),
    ("open opens", "closed closes"),
    ("always", "never"),
    ("weekday weekdays", "weekend weekends saturday saturdays sunday sundays"),
    ("available", "unavailable"),
    ("refundable", "non-refundable nonrefundable"),
    ("accepted accepts accept", "rejected rejects reject declined"),
    ("enabled", "disabled"),
    ("first", "last"),
    ("morning mornings", "afternoon afternoons evening evenings"),
    ("online", "in-person offline"),
)
_OPPOSITE_SETS = tuple((frozenset(a.split()), frozenset(b.split())) for a, b in _OPPOSITES)


def polarity_conflict(claim: str, sentence: str) -> float:
    """1 when ``claim`` has a word of one side of a pair of opposites that ``sentence`` lacks
    while ``sentence`` has a word of the other side that ``claim`` lacks.

    >>> polarity_conflict("Late returns are free.", "Late returns cost EUR 0.20 a day.")
    1.0
    >>> polarity_conflict("Returns cost nothing extra after 30 days.", "Returns cost EUR 2.")
    0.0
    """
    mine = {w.lower() for w in _WORD.findall(claim)}
    theirs = {w.lower() for w in _WORD.findall(sentence)}
    for a, b in _OPPOSITE_SETS:
        for one, other in ((a, b), (b, a)):
            if (mine & one) - theirs and (theirs & other) - mine and not mine & other:
                return 1.0
    return 0.0


def proper_names(text: str) -> frozenset[str]:
    """Lower-cased words ``text`` capitalises other than at the start of a sentence.

    >>> sorted(proper_names("Mei approved it. Then Ravi audited the budget."))
    ['ravi']
    """
    out = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        words = sentence.split(maxsplit=1)
        if len(words) == 2:  # the first word is capitalised anyway
            out.update(n.lower() for n in _NAME.findall(words[1]))
    return frozenset(out - _STOP - META_WORDS)


def name_conflict(claim: str, sentence: str, names: frozenset[str]) -> float:
    """1 when the claim has one of the context's ``names`` (:func:`proper_names`) that
    ``sentence`` (the aligned one) lacks, while ``sentence`` has one the claim lacks.

    >>> names = frozenset({"ravi", "mei"})
    >>> name_conflict("Ravi approved the budget.", "Mei approved the budget; Ravi audited it.",
    ...               names)
    0.0
    >>> name_conflict("Ravi approved the budget.", "Mei approved the budget.", names)
    1.0
    """
    mine = {w.lower() for w in _NAME.findall(claim)} & names
    theirs = {w.lower() for w in _NAME.findall(sentence)} & names
    return float(bool(mine - theirs) and bool(theirs - mine))


@dataclass(frozen=True)
class WordVectors:
    """The packaged MiniLM's input token vectors, unit length; a word is the mean of its
    word pieces' vectors."""

    table: np.ndarray
    tokenizer: object

    @classmethod
    def load(cls) -> WordVectors:
        return _vectors.get("minilm", _read_vectors)

    def vectors(self, words: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(words), self.table.shape[1]), dtype=np.float32)
        for i, word in enumerate(words):
            out[i] = _word_vector(self, word)
        return out

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return self.vectors(a) @ self.vectors(b).T


_vectors: ModelCache[str, WordVectors] = ModelCache()
_word_cache: dict[str, np.ndarray] = {}
_WORD_CACHE_SIZE = 200_000


def _read_vectors() -> WordVectors:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from detectors.embedding import model_path

    root = model_path()
    table = load_file(f"{root}/model.safetensors")["embeddings.word_embeddings.weight"]
    table = table / np.linalg.norm(table, axis=1, keepdims=True)
    tokenizer = Tokenizer.from_file(f"{root}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return WordVectors(table=table.astype(np.float32), tokenizer=tokenizer)


def _word_vector(words: WordVectors, word: str) -> np.ndarray:
    vec = _word_cache.get(word)
    if vec is None:
        ids = words.tokenizer.encode(word, add_special_tokens=False).ids or [100]
        vec = words.table[ids].mean(axis=0)
        vec = vec / max(float(np.linalg.norm(vec)), 1e-9)
        if len(_word_cache) < _WORD_CACHE_SIZE:
            _word_cache[word] = vec
    return vec


def _content_words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(text):
        low = w.lower()
        if w[0].isalpha() and len(w) > 1 and low not in _STOP and low not in META_WORDS:
            if low not in _NUMBER_WORDS:
                out.append(low)
    return out


def soft_checks(
    claims: Sequence[str],
    aligned: Sequence[int],
    sentences: Sequence[str],
    source: str,
    idf,
    skip: Sequence[bool] = (),
) -> list[tuple[float, float, float, float]]:
    """Per claim: ``soft_gap``, ``soft_novel`` and ``name_conflict`` (see the module); a
    claim marked in ``skip`` (a hedge) gets zeros."""
    words = WordVectors.load()
    sent_words = [_content_words(s) for s in sentences]
    vocab = list(dict.fromkeys(w for ws in sent_words for w in ws))
    source_vocab = list(dict.fromkeys(vocab + _content_words(source)))[:MAX_SOURCE_WORDS]
    index = {w: i for i, w in enumerate(source_vocab)}
    table = words.vectors(source_vocab)
    names = proper_names(source)
    out = []
    for k, (claim, best) in enumerate(zip(claims, aligned, strict=True)):
        mine = _content_words(claim)
        if not mine or (k < len(skip) and skip[k]):
            out.append((0.0, 0.0, 0.0, 0.0))
            continue
        weight = np.array([idf(_stem(w)) for w in mine])
        sims = words.vectors(mine) @ table.T if len(source_vocab) else np.zeros((len(mine), 1))
        best_any = sims.max(axis=1)
        novel = float(weight[best_any < NOVEL_COSINE].sum() / weight.sum())
        window = [i for i in (best - 1, best, best + 1) if 0 <= i < len(sentences)]
        gap = 1.0
        for a, b in zip(window, window[1:] or window, strict=False):
            cols = [index[w] for w in sent_words[a] + sent_words[b] if w in index]
            if cols:
                prec = float(weight @ sims[:, cols].max(axis=1) / weight.sum())
                gap = min(gap, 1.0 - prec)
        conflict = name_conflict(claim, sentences[best], names) if sentences else 0.0
        polarity = polarity_conflict(claim, sentences[best]) if sentences else 0.0
        out.append((max(gap, 0.0), novel, conflict, polarity))
    return out
