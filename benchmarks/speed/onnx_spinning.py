"""ONNX Runtime's idle threads spinning or sleeping, on the bare onnx-int8 model (issue 13).

The same model with the runtime's default session (idle threads spin) and as
``detectors.embedding`` makes it (they sleep) encodes prompt and response of 588 demo
events, each in a process of its own (one thread pool per process, as in a worker), in turn,
three times; prints events/s and CPU per event of each, then whether the vectors are
identical (both sessions in this process).

    nice python benchmarks/speed/onnx_spinning.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from benchmarks.speed.ceiling import valid_events  # noqa: E402
from detectors.embedding import _onnx_file, _onnx_session_options, onnx_model_dir  # noqa: E402
from streams.demo_data import generate  # noqa: E402


def session(spin: bool) -> object:
    from sentence_transformers import SentenceTransformer

    kwargs = {"file_name": _onnx_file("onnx-int8"), "provider": "CPUExecutionProvider"}
    if not spin:
        kwargs["session_options"] = _onnx_session_options()
    model = SentenceTransformer(str(onnx_model_dir(None)), backend="onnx", device="cpu",
                                local_files_only=True, model_kwargs=kwargs)  # fmt: skip
    model.max_seq_length = 256
    model.encode(["warm up"] * 8)
    return model


def measure(spin: bool) -> None:
    events = valid_events(generate(600, seed=7, run_id="throughput"))
    texts = [t for e in events for t in (e.prompt_text, e.response)]
    model = session(spin)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), 512):
        model.encode(texts[i : i + 512], batch_size=64)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    name = "spinning (runtime default)" if spin else "sleeping (ours)"
    print(f"{name}: {len(events) / wall:.0f} events/s, {1000 * cpu / len(events):.2f} "
          f"ms CPU per event, load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip


def main(argv: list[str]) -> int:
    if argv:
        measure(argv[0] == "spin")
        return 0
    for _ in range(3):
        for mode in ("spin", "sleep"):
            subprocess.run([sys.executable, __file__, mode], check=True)
    texts = ["ann@example.com wrote twice", "the refund window is 30 days", "hello"] * 20
    a, b = (session(spin).encode(texts, batch_size=64) for spin in (True, False))
    print(f"identical vectors: {np.array_equal(a, b)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
