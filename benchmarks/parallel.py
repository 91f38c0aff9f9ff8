"""Parallel training on this machine: one process against two at once, and DDP --procs 2 against one process.

    python benchmarks/parallel.py [--quick] [--model 3-layer] [--subset 12000]

Everything is measured in the same run (the machine is noisy), as training images per second of the
first epoch, and printed as ratios against the one-process baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, write

from mnist_tui.engine.config import make_config
from mnist_tui.runfolder import events as ev


def service_rates(configs) -> list[float]:
    """Start the configs at once through the TrainingService; each run's epoch-1 images/s."""
    from mnist_tui.service.worker import TrainingService

    rates: dict[str, float] = {}
    with TrainingService(max_jobs=len(configs)) as service:
        ids = [service.start(c) for c in configs]
        for event in service.iter_events():
            if isinstance(event, ev.EpochCompleted) and event.epoch == 1:
                rates[event.run_id] = event.images_per_sec
            if isinstance(event, ev.RunFailed):
                raise SystemExit(f"run failed: {event.reason}")
    return [rates[i] for i in ids]


def record(rank, result):
    if rank == 0:
        Path(os.environ["PARALLEL_BENCH_OUT"]).write_text(json.dumps(result.history))


def ddp_rate(config, procs: int) -> float:
    from mnist_tui.cli.distributed import launch

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "history.json"
        os.environ["PARALLEL_BENCH_OUT"] = str(out)
        if launch(config, procs, after=record) != 0:
            raise SystemExit("DDP run failed")
        return json.loads(out.read_text())[0]["images_per_sec"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--model", default="3-layer")
    parser.add_argument("--subset", type=int, default=12000, help="training images per run")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    subset = 2000 if args.quick else args.subset
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as runs:
        base = dict(epochs=1, train_subset=subset, runs_dir=runs, data_dir=args.data_dir, patience=0)
        (one,) = service_rates([make_config(args.model, threads=cores, **base)])
        two = service_rates([make_config(args.model, threads=max(1, cores // 2), seed=s, **base) for s in (0, 1)])
        ddp = ddp_rate(make_config(args.model, threads=max(1, cores // 2), **base), 2)
    rows = [
        [f"1 process x {cores} threads", f"{one:,.0f}", "1.00"],
        [f"2 processes x {max(1, cores // 2)} thread(s), summed", f"{sum(two):,.0f}", f"{sum(two) / one:.2f}"],
        ["--procs 2 (DDP, gloo)", f"{ddp:,.0f}", f"{ddp / one:.2f}"],
    ]
    print(f"{args.model}, {subset:,} training images, epoch 1, {cores} cores")
    print(table(["setup", "images/s", "vs 1 process"], rows))
    path = write(
        "parallel-quick" if args.quick else "parallel",
        {
            "model": args.model,
            "train_images": subset,
            "one_process": one,
            "two_processes": two,
            "two_processes_total": sum(two),
            "ddp_two_ranks": ddp,
            "ratio_two_processes": sum(two) / one,
            "ratio_ddp": ddp / one,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
