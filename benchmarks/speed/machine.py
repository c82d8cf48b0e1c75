"""Facts about the machine a speed benchmark ran on, for its report (issue 13): the CPU, the
flags that decide bf16/int8 speed, cores, Python and torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["machine_facts"]


def machine_facts() -> dict[str, str]:
    """CPU model, the flags that decide bf16/int8 speed, cores, Python, torch."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), platform.processor())  # fmt: skip
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                      if ln.startswith("flags")), []))  # fmt: skip
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile",
              "avx_vnni"]  # fmt: skip
    import torch

    return {
        "CPU": model,
        "flags": ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "Python / torch": f"{platform.python_version()} / {torch.__version__}",
    }
