"""Shared by the benchmarks: the machine they ran on, the table printer and the JSON writer."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from mnist_tui.common.text import table  # noqa: F401 - the CLI's table printer, shared by the benchmarks

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import torch

    from mnist_tui.engine.device import _cpu_model, cpu_has_native_bf16

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "native_bf16": cpu_has_native_bf16(),
        "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=str) + "\n")
    return path
