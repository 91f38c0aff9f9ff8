"""Device and precision choice: CUDA, MPS or CPU, and bf16 only where the hardware does it natively."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from mnist_tui.common.fileio import read_json, write_atomic


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


_PROBED: dict[str, dict] = {}  # per process: probe key -> {"fp32": img/s, "bf16": img/s}


def _probe_key(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_model()
    return f"{device.type}|{name}|torch {torch.__version__}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_file() -> Path | None:
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("mnist-tui")) / "precision.json"
    except Exception:  # noqa: BLE001 - no cache dir: probe once per process instead
        return None


def measure_precisions(device: torch.device, rounds: int = 3) -> dict[str, float]:
    """Training steps per second of a small CNN in fp32 and under bf16 autocast (best of rounds).

    The CNN is the 3-layer model (conv 32-64-128, BN, ReLU, pool) at batch 32, channels_last, forward and
    backward. The two precisions alternate, so a busy machine slows both alike. It runs on one thread and
    under a forked RNG, and gives both back as it found them: the caller's random state and thread count
    are unchanged. Call it from a worker, never from a UI thread: it takes about a second.
    """
    from torch import nn

    from mnist_tui.engine.models import build_model

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        block = build_model("3-layer").to(device).to(memory_format=torch.channels_last)
        x = torch.randn(32, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (32,), device=device)

    def steps(precision: str, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            with autocast(device, precision):
                loss = nn.functional.cross_entropy(block(x).float(), y)
            loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return n / (time.perf_counter() - start)

    rates = {"fp32": 0.0, "bf16": 0.0}
    threads = torch.get_num_threads()
    # One thread: the per-core ratio is the hardware's, and a neighbour busy on the other core cannot
    # stall a thread barrier in one precision's rounds and not the other's.
    torch.set_num_threads(1)
    try:
        for precision in rates:
            steps(precision, 2)  # warm-up: oneDNN builds its kernels on first use
        for _ in range(rounds):
            for precision in rates:
                rates[precision] = max(rates[precision], steps(precision, 3))
    finally:
        torch.set_num_threads(threads)
    return rates


def probe_precisions(device: torch.device, measure: bool = True) -> dict[str, float] | None:
    """`measure_precisions`, cached per process and on disk per (device, device model, torch version).
    With `measure=False`, only what a cache holds (None when neither does): for callers that must not
    spend a second on the probe."""
    key = _probe_key(device)
    if key in _PROBED:
        return _PROBED[key]
    path = _cache_file()
    cached = read_json(path) if path is not None else {}
    if key in cached:
        _PROBED[key] = cached[key]
        return cached[key]
    if not measure:
        return None
    rates = measure_precisions(device)
    _PROBED[key] = rates
    if path is not None:
        try:
            write_atomic(path, json.dumps({**cached, key: rates}, indent=1).encode())
        except OSError:
            pass
    return rates


def bf16_is_faster(device: torch.device, margin: float = 1.1, measure: bool = True) -> bool:
    """True when bf16 autocast trains the probe at least `margin` times faster than fp32 (False when
    `measure=False` and no cache knows)."""
    rates = probe_precisions(device, measure)
    return rates is not None and rates["bf16"] >= margin * rates["fp32"]


def auto_precision(native_bf16: bool, bf16_faster: bool, accuracy_first: bool) -> str:
    """`--precision auto`'s rule: bf16 where the hardware does it natively and it measured faster, except
    for a recipe whose point is accuracy, where bf16 cost more than the seed-to-seed spread
    (docs/performance.md, "Machine C")."""
    return "bf16" if native_bf16 and bf16_faster and not accuracy_first else "fp32"


def pick_precision(name: str, device: torch.device, accuracy_first: bool = False, measure: bool = True) -> str:
    """fp32 or bf16. `auto` follows `auto_precision`: bf16 only where it is native (Ampere+ CUDA,
    bf16-capable CPUs), a one-time micro-benchmark, cached on disk, measures it faster than fp32, and
    the recipe is not one whose point is accuracy."""
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
    faster = native and not accuracy_first and bf16_is_faster(device, measure=measure)  # probe only if it decides
    return auto_precision(native, faster, accuracy_first)


def autocast(device: torch.device, precision: str):
    """A context manager for the chosen precision (a no-op for fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def threads_per_process(processes: int, requested: int = 0) -> int:
    """Threads for each of `processes` training processes so that processes x threads <= cores,
    unless the user asked for a count."""
    return requested or max(1, (os.cpu_count() or 1) // max(1, processes))


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed memory instead of handing big blocks back to the kernel.

    A training step allocates and frees activations of several MB each. By default glibc serves those
    with fresh mmap pages, so every step paid about 4,000-12,000 page faults zero-filling them again
    (measured here with getrusage); with these settings it pays none, and a 3-layer step runs about
    10% faster. The PyTorch CPU tuning guides get the same from jemalloc or tcmalloc, which would be a
    native dependency. Linux with glibc only; elsewhere this does nothing and returns False."""
    if platform.system() != "Linux":
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
        m_trim_threshold, m_mmap_threshold = -1, -3
        # Blocks up to 1 GiB come from the heap (older glibc caps this at 32 MiB), and up to 2 GiB of
        # free heap is kept for reuse.
        heap_blocks = mallopt(m_mmap_threshold, 1 << 30) or mallopt(m_mmap_threshold, 32 << 20)
        return bool(heap_blocks) and bool(mallopt(m_trim_threshold, (1 << 31) - 1))
    except (OSError, AttributeError):  # musl and other C libraries: keep their defaults
        return False


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads explicitly; 0 means all cores. Returns the count used."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count
