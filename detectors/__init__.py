"""Pure computation: events in, ``Signal``s out. No Kafka, no ClickHouse, no asyncio.

Reading order: ``base.py`` (the ``Detector`` contract, ``NullDetector``, ``BatchFeatures``
shared per batch, the lazy registry), ``cost.py`` and ``pii.py`` (model-free detectors),
``pipeline.py`` (runs the configured detectors and redacts what will be stored). Heavy
libraries are imported inside the detector that needs them, never here.
"""

from detectors.base import REGISTRY, BatchFeatures, Detector, NullDetector, create, register

__all__ = ["REGISTRY", "BatchFeatures", "Detector", "NullDetector", "create", "register"]
