"""Two-sample tests by name: ``TESTS`` (ours) and ``make_test``, which also builds the optional
alibi-detect backend (``alibi_mmd``, ``alibi_lsdd``, ``alibi_ks``). The registry sits above
both ``two_sample`` and ``alibi``, so neither imports the other's user: no cycle.
"""

from __future__ import annotations

from typing import Any

from detectors.drift.projected import DomainClassifier, ProjectedKS
from detectors.drift.two_sample import LSDD, MMD, TwoSampleTest

__all__ = ["TESTS", "make_test"]


TESTS: dict[str, type[TwoSampleTest]] = {
    MMD.name: MMD,
    LSDD.name: LSDD,
    ProjectedKS.name: ProjectedKS,
    DomainClassifier.name: DomainClassifier,
}


def make_test(name: str, **params: Any) -> TwoSampleTest:
    """Build the two-sample test registered under ``name`` (see :data:`TESTS`)."""
    if name in ("alibi_mmd", "alibi_lsdd", "alibi_ks"):
        from detectors.drift.alibi import AlibiTest

        return AlibiTest(name.removeprefix("alibi_"), **params)
    try:
        cls = TESTS[name]
    except KeyError:
        known = ", ".join([*sorted(TESTS), "alibi_mmd", "alibi_lsdd", "alibi_ks"])
        msg = f"unknown drift test {name!r}; known tests: {known}"
        raise ValueError(msg) from None
    return cls(**params)
