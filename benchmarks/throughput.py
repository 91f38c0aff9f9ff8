"""Training images/sec of our pipeline against the raw forward/backward rate of the same model.

Raw: the 3-layer model stepping on one synthetic in-memory batch over and over (Adam, the same batch size,
precision, memory format and threads as the pipeline). Ours: `fit` on real MNIST, whose per-epoch
images/sec covers batching, shuffling, progress reports and the schedule, but not validation. Raw is
measured before and after ours and averaged, so a neighbour's load drifting during the run shows up
in both. Run: `python benchmarks/throughput.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
import torch.nn.functional as F
from _common import table, write

from mnist_tui.engine.config import make_config
from mnist_tui.engine.device import autocast, pick_precision
from mnist_tui.engine.models import build_model
from mnist_tui.training.train import fit, prepare_process


def raw_rate(model_name: str, batch_size: int, precision: str, channels_last: bool, images: int) -> float:
    """Images/sec of forward, loss, backward and Adam step on a fixed synthetic batch."""
    device = torch.device("cpu")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(model_name).to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 1, 28, 28).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch_size,))

    def step():
        with autocast(device, precision):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    steps = max(10, images // batch_size)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 6,400 images each way")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--model", default="3-layer")
    parser.add_argument("--threads", type=int, default=0, help="default: all cores; 1 is steadier on a busy machine")
    args = parser.parse_args(argv)
    images = 6400 if args.quick else 54000
    with tempfile.TemporaryDirectory() as runs_dir:
        config = make_config(
            args.model,
            preset=args.preset,
            runs_dir=runs_dir,
            epochs=1,
            epoch_fraction=1.0,
            threads=args.threads,
            train_subset=images if args.quick else 0,
            patience=0,
        )
        threads = prepare_process(config)
        precision = pick_precision(config.precision, torch.device("cpu"))
        raw_args = (config.model, config.batch_size, precision, config.channels_last, images // 2)
        before = raw_rate(*raw_args)
        result = fit(config)
        after = raw_rate(*raw_args)
    ours = result.history[-1]["images_per_sec"]
    raw = (before + after) / 2
    ratio = ours / raw
    print(
        table(
            ["what", "images/sec"],
            [
                ["raw fwd/bwd+Adam, synthetic (before / after)", f"{before:,.0f} / {after:,.0f}"],
                [
                    f"ours: fit --preset {args.preset}, epoch of {len(result.history) and result.summary.epochs}",
                    f"{ours:,.0f}",
                ],
            ],
        )
    )
    print(
        f"{config.model}, batch {config.batch_size}, {precision}, channels_last={config.channels_last}, "
        f"{threads} threads: ours / raw = {ratio * 100:.0f}%"
    )
    path = write(
        "throughput" + ("-quick" if args.quick else ""),
        {
            "quick": args.quick,
            "model": config.model,
            "batch_size": config.batch_size,
            "precision": precision,
            "channels_last": config.channels_last,
            "threads": threads,
            "images": images,
            "raw_before": before,
            "raw_after": after,
            "raw": raw,
            "ours": ours,
            "ratio": ratio,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
