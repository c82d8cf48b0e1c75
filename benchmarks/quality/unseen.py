"""Detectors on traffic they were never trained on: every figure of issue 10 in one run.

Runs, one after another and each with its peers on the same rows:

- ``unseen_toxicity``: cross-source folds (worst reported) and the frozen toxicity field set;
- ``unseen_injection``: cross-source folds and the frozen injection field set, benign
  product requests fired at the default threshold;
- ``unseen_hallucination``: HaluEval cross-task folds and the frozen RAG field set, the
  lexical baseline and the previous detector.

Each part checks its field set's sha256 before scoring and writes its own report under
``benchmarks/quality/reports/``. Run::

    HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen            # everything
    HF_HUB_OFFLINE=1 nice python -m benchmarks.quality.unseen injection  # one part

The peers need the ``peers`` extra (``pip install -e '.[peers]'``) and, for tox-block, the
separate interpreter described in ``benchmarks/quality/unseen_toxicity.py``.
"""

from __future__ import annotations

import importlib
import sys
import time

PARTS = ("toxicity", "injection", "hallucination")


def main(argv: list[str] | None = None) -> int:
    """Run the named parts (all by default); the exit status is the worst part's."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    worst = 0
    for name in names:
        module = importlib.import_module(f"benchmarks.quality.unseen_{name}")
        started = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        rc = int(module.main([]) or 0)
        print(f"=== {name}: rc={rc}, {time.perf_counter() - started:.0f} s ===", flush=True)
        worst = max(worst, rc)
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
