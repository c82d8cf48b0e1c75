"""Embedding drift that on-call can trust: two-sample tests on windows of embeddings, scalar
change detectors, and the stateful monitor that turns them into explained drift results.

Reading order: ``two_sample.py`` (``TwoSampleResult``, the ``TwoSampleTest`` contract, ``MMD``,
``LSDD``), ``projected.py`` (``ProjectedKS``, ``DomainClassifier``), ``registry.py`` (tests by
name, the optional alibi-detect backend in ``alibi.py``), ``calibration.py`` (``window_alpha``,
``benjamini_hochberg``), ``scalar.py`` (river's ADWIN and Page-Hinkley on per-event scalars),
``explain.py`` (what moved, what faded, the sentence), ``monitor.py``
(``EmbeddingDriftMonitor``, one per stream, and ``DriftResult``) and ``bank.py`` (every
stream's monitor for one worker).

The kernel tests follow the published methods (Gretton et al. 2012 for MMD with the median
heuristic, Bu et al. 2016 for LSDD) and agree with alibi-detect's p-values on the same data
(tests/unit/test_drift.py); alibi-detect itself is only an optional backend because of its
licence (Business Source License 1.1).
"""

from detectors.drift.calibration import benjamini_hochberg, window_alpha
from detectors.drift.monitor import DriftResult, EmbeddingDriftMonitor
from detectors.drift.projected import DomainClassifier, ProjectedKS
from detectors.drift.registry import TESTS, make_test
from detectors.drift.scalar import SCALAR_DEFAULTS, ScalarDrift, is_refusal
from detectors.drift.two_sample import LSDD, MMD, TwoSampleResult, TwoSampleTest

__all__ = [
    "LSDD",
    "MMD",
    "SCALAR_DEFAULTS",
    "TESTS",
    "DomainClassifier",
    "DriftResult",
    "EmbeddingDriftMonitor",
    "ProjectedKS",
    "ScalarDrift",
    "TwoSampleResult",
    "TwoSampleTest",
    "benjamini_hochberg",
    "is_refusal",
    "make_test",
    "window_alpha",
]
