"""Test accuracy per preset over several seeds: mean ± std, seconds per run, and each preset's recipe.

Run: `python benchmarks/accuracy.py [--quick] [--presets fast,accurate,best,compact] [--seeds 0,1,2] [--jobs 2]`.
`--jobs N` trains N runs at once in spawned processes, each with cores / N threads unless `--threads` says.
`--set field=value` (repeatable) changes a config field of every preset measured, to try a recipe before
it becomes the preset; the changes are recorded in each preset's recipe in the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, write

from mnist_tui.engine.config import PRESETS, TrainConfig, make_config
from mnist_tui.engine.device import threads_per_process
from mnist_tui.engine.models import UnknownModel
from mnist_tui.engine.splits import train_split_size
from mnist_tui.training.train import fit, prepare_process


def parse_setting(text: str) -> tuple[str, object]:
    """`field=value` for a TrainConfig field, the value converted to the field's type."""
    name, sep, value = text.partition("=")
    fields = {f.name: type(f.default) for f in dataclasses.fields(TrainConfig)}
    if not sep or name not in fields:
        raise argparse.ArgumentTypeError(f"expected field=value with a config field, got {text!r}")
    kind = fields[name]
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return name, value.lower() in ("true", "1")
        return name, kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r} is not a valid {kind.__name__}") from None


def run(
    preset: str, seed: int, quick: bool, data_dir: str | None, threads: int = 0, settings: dict | None = None
) -> dict:
    quick_subset = min(2000, train_split_size(data_dir) or 2000)  # small synthetic data holds fewer
    overrides = {**(settings or {}), **({"train_subset": quick_subset, "epochs": 1} if quick else {})}
    if threads:
        overrides["threads"] = threads
    if data_dir:
        overrides["data_dir"] = data_dir
    with tempfile.TemporaryDirectory() as runs_dir:
        config = make_config(preset=preset, seed=seed, runs_dir=runs_dir, **overrides)
        prepare_process(config)
        start = time.perf_counter()
        result = fit(config)
        seconds = time.perf_counter() - start
    summary = result.summary
    print(
        f"  {preset} seed {seed}: test {summary.test_acc * 100:.2f}% in {seconds:.0f} s "
        f"({summary.epochs_run} epochs, best {summary.best_epoch})",
        flush=True,
    )
    return {
        "seed": seed,
        "test_acc": summary.test_acc,
        "val_acc": summary.val_acc,
        "seconds": round(seconds, 1),
        "epochs_run": summary.epochs_run,
        "best_epoch": summary.best_epoch,
        "config": config.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 training images, 1 epoch, seed 0")
    parser.add_argument("--presets", default="fast,accurate,best,compact")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads per run (default: the preset's, i.e. all cores); 1 runs steadier on a shared machine",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, each in its own process")
    parser.add_argument("--out", default=None, help="results file name (default: accuracy[-quick])")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=parse_setting,
        default=[],
        metavar="FIELD=VALUE",
        help="change a config field of every preset measured (repeatable), e.g. --set label_smoothing=0.1",
    )
    args = parser.parse_args(argv)
    settings = dict(args.settings)
    presets = [p for p in args.presets.split(",") if p]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown)}; choose from {', '.join(PRESETS)}")
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more")
    threads = threads_per_process(args.jobs, args.threads) if args.jobs > 1 else args.threads
    try:
        for preset in presets:
            make_config(preset=preset, **settings)
    except (UnknownModel, ValueError) as exc:
        parser.error(str(exc))
    seeds = [0] if args.quick and args.seeds == "0,1,2" else [int(s) for s in args.seeds.split(",")]

    jobs = [(preset, seed, args.quick, args.data_dir, threads, settings) for preset in presets for seed in seeds]
    if args.jobs > 1:  # spawn: the same start method as the app's workers, and safe on every OS
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(run, *zip(*jobs)))
    else:
        done = [run(*job) for job in jobs]
    results = {}
    for preset in presets:
        runs = [r for (p, *_), r in zip(jobs, done) if p == preset]
        accs = [r["test_acc"] * 100 for r in runs]
        results[preset] = {
            "recipe": {**PRESETS[preset], **settings},
            "settings": settings,
            "runs": runs,
            "mean": statistics.fmean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "seconds_mean": statistics.fmean(r["seconds"] for r in runs),
        }
    rows = []
    for preset, r in results.items():
        extras = [k for k in ("augment", "ema_decay", "tta") if r["recipe"].get(k)]
        rows.append(
            [
                preset,
                r["recipe"].get("model", "3-layer"),
                r["recipe"].get("epochs"),
                ", ".join(extras) or "-",
                len(r["runs"]),
                f"{r['mean']:.2f} ± {r['std']:.2f}",
                f"{r['seconds_mean']:.0f}",
            ]
        )
    print()
    print(table(["preset", "model", "epochs", "extras", "seeds", "test acc % (mean ± std)", "s/run"], rows))
    path = write(
        args.out or ("accuracy" + ("-quick" if args.quick else "")),
        {"quick": args.quick, "seeds": seeds, "threads": threads or "all", "jobs": args.jobs, "presets": results},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
