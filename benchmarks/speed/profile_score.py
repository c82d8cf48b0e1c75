"""Where the default score pipeline spends its time once embeddings are cached (issue 13).

Scores the same 1,500 demo messages as ``throughput.py`` with the default detectors (cost,
pii, toxicity; drift's prompt and response embeddings), batch by batch, until every text is
in the embedding cache; then times three passes (wall and CPU time, best of three: CPU time
moves less with other jobs on a shared machine) and profiles another (cProfile, cumulative).

    nice python benchmarks/speed/profile_score.py
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.speed.ceiling import valid_events  # noqa: E402
from streams.app import build_pipeline  # noqa: E402
from streams.demo_data import generate  # noqa: E402
from streams.settings import Settings  # noqa: E402


def main() -> int:
    events = valid_events(generate(1500, seed=7, run_id="throughput"))
    pipeline = build_pipeline(Settings(data_dir=Path(tempfile.mkdtemp())))
    batches = [events[i : i + 256] for i in range(0, len(events), 256)]
    for b in batches:  # load the models, fill the cache
        pipeline.score(b)
    walls, cpus = [], []
    for _ in range(3):  # best of three: the machine is shared
        wall, cpu = time.perf_counter(), time.process_time()
        for b in batches:
            pipeline.score(b)
        walls.append(1000 * (time.perf_counter() - wall) / len(batches))
        cpus.append(1000 * (time.process_time() - cpu) / len(batches))
    print(
        f"ScoringPipeline.score, cache warm: {min(walls):.0f} ms per batch of 256 "
        f"(best of 3; CPU {min(cpus):.0f} ms, all threads; load {os.getloadavg()[0]:.1f})"
    )
    prof = cProfile.Profile(time.process_time)  # CPU time: other jobs do not inflate it
    prof.enable()
    for b in batches:
        pipeline.score(b)
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
