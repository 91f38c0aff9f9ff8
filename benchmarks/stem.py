"""What the folded stem saves: training steps with `models.stem` against plain `bn(conv(x))`, same process.

Each round times a few forward/backward/Adam steps of one model with the fold, then the same with the
plain path (the fold switched off by calling the Sequential directly), alternating, so a neighbour's
load slows both alike; the best round of each is kept. The result is a ratio, not an absolute time.
Run: `python benchmarks/stem.py [--quick] [--threads N] [--precision fp32|bf16|auto]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
import torch.nn.functional as F
from _common import table, write

from mnist_tui.engine.device import autocast, pick_precision, set_threads
from mnist_tui.engine.models import build_model


def plain_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's forward without the fold: its Sequential parts called as they are."""
    out = model.features(x)
    return model.classifier(out) if hasattr(model, "classifier") else out


def step_times(model_name: str, batch_size: int, precision: str, rounds: int, steps: int) -> dict[str, float]:
    """Best milliseconds per training step with the fold and without it."""
    device = torch.device("cpu")
    torch.manual_seed(0)
    x = torch.randn(batch_size, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,))
    setups = {}
    for way in ("fold", "plain"):
        torch.manual_seed(0)
        model = build_model(model_name).to(memory_format=torch.channels_last).train()
        forward = model.forward if way == "fold" else (lambda x, m=model: plain_forward(m, x))
        setups[way] = (model, forward, torch.optim.Adam(model.parameters(), lr=1e-3))

    def run(way: str, n: int) -> float:
        model, forward, optimizer = setups[way]
        start = time.perf_counter()
        for _ in range(n):
            with autocast(device, precision):
                loss = F.cross_entropy(forward(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / n * 1e3

    best = {way: float("inf") for way in setups}
    for way in setups:
        run(way, 3)  # warm-up: oneDNN builds its kernels on first use
    for _ in range(rounds):
        for way in setups:
            best[way] = min(best[way], run(way, steps))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 2 steps")
    parser.add_argument("--models", default="3-layer,compact", help="comma-separated model names")
    parser.add_argument("--batch-sizes", default="64,128", help="comma-separated batch sizes")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=0, help="default: all cores; 1 is steadier on a busy machine")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    precision = pick_precision(args.precision, torch.device("cpu"))
    rounds, steps = (2, 2) if args.quick else (7, 10)
    rows, results = [], []
    for model_name in args.models.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            best = step_times(model_name, batch_size, precision, rounds, steps)
            saved = 1 - best["fold"] / best["plain"]
            rows.append(
                [model_name, str(batch_size), f"{best['plain']:.1f}", f"{best['fold']:.1f}", f"{saved * 100:+.1f}%"]
            )
            results.append(
                {
                    "model": model_name,
                    "batch_size": batch_size,
                    "plain_ms": best["plain"],
                    "fold_ms": best["fold"],
                    "saved": saved,
                }
            )
    print(table(["model", "batch", "plain ms/step", "fold ms/step", "fold saves"], rows))
    print(f"{precision}, channels_last, {threads} threads, best of {rounds} rounds of {steps} steps each way")
    path = write(
        "stem" + ("-quick" if args.quick else ""),
        {
            "quick": args.quick,
            "precision": precision,
            "threads": threads,
            "rounds": rounds,
            "steps": steps,
            "results": results,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
