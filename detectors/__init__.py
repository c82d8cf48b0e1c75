"""Pure computation: events in, ``Signal``s out. No Kafka, no ClickHouse, no asyncio.

Reading order: ``base.py`` (the ``Detector`` contract, ``NullDetector``, ``BatchFeatures``
shared per batch, the lazy registry), ``cost.py`` and ``pii.py`` (model-free detectors;
``pii_patterns.py`` holds the PII and secret patterns, ``pii_policy.py`` whose data a span is
and which leak kind, ``pii_policy_file.py`` the per-service YAML, ``redaction.py`` every other
text field redacted and ids pseudonymised),
``cache.py`` (the one lazy model cache), ``embedding.py`` (the shared MiniLM embedding, one
pass per batch), ``toxicity.py``, ``injection.py``, ``hallucination.py`` (the lexical checks
of one claim in ``hallucination_claims.py``, its alignment to a context sentence and the
conflicts with it in ``hallucination_align.py``, a batch's combiner inputs in
``hallucination_features.py``), ``pii_ner.py`` and ``hf.py`` (model detectors and local
Hugging Face checkpoints), ``pipeline.py`` (runs the
configured detectors and redacts what will be stored), ``drift/`` (two-sample tests, the
monitor per stream; its ``__init__`` gives its own reading order). Heavy libraries are
imported inside the detector that needs them, never here.
"""

from detectors.base import REGISTRY, BatchFeatures, Detector, NullDetector, create, register

__all__ = ["REGISTRY", "BatchFeatures", "Detector", "NullDetector", "create", "register"]
