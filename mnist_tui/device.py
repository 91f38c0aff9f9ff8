"""Device and precision choice: CUDA, MPS or CPU, and bf16 only where the hardware does it natively."""

from __future__ import annotations

import os

import torch


class DeviceError(ValueError):
    pass


def pick_device(name: str = "auto") -> torch.device:
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise DeviceError("device cuda was asked for, but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not mps:
        raise DeviceError("device mps was asked for, but Apple MPS is not available; use --device cpu or auto")
    if name not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: bf16 matmuls run natively. Without them bf16 autocast is slower than fp32."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # noqa: BLE001 - a missing probe means "unknown", so no
            pass
    return False


def pick_precision(name: str, device: torch.device) -> str:
    """fp32 or bf16. `auto` picks bf16 only where it is native (Ampere+ CUDA, bf16-capable CPUs)."""
    if name == "fp32":
        return "fp32"
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        native = cpu_has_native_bf16()
    else:
        native = False  # MPS bf16 autocast support varies by macOS; fp32 is the safe choice
    if name == "bf16":
        if device.type == "mps":
            raise DeviceError("bf16 is not supported on MPS here; use --precision fp32 or auto")
        return "bf16"
    return "bf16" if native else "fp32"


def autocast(device: torch.device, precision: str):
    """A context manager for the chosen precision (a no-op for fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads explicitly; 0 means all cores. Returns the count used."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count
