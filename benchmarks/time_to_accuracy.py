"""Seconds to >=99.0% MNIST test accuracy: the tutorial pipeline against `fit(--preset fast)`, in one run.

Both train the 3-layer model. The tutorial pipeline is what the reference apps use: torchvision
`datasets.MNIST` with per-sample ToTensor/Normalize transforms, a DataLoader with 2 workers, Adam 1e-3,
batch 64, test accuracy after every epoch. Wall time runs from loading the data to having the test
accuracy (imports excluded). Run: `python benchmarks/time_to_accuracy.py [--quick]`.
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
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from mnist_tui.engine.config import make_config
from mnist_tui.engine.data import default_data_dir
from mnist_tui.engine.models import build_model
from mnist_tui.training.train import fit, prepare_process

TARGET = 0.99


def tutorial(data_dir: str, max_epochs: int, subset: int, seed: int) -> dict:
    """The pytorch/examples-style loop, timed from building the datasets to each epoch's test accuracy."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(root=data_dir, train=True, download=False, transform=transform)
    test_set = datasets.MNIST(root=data_dir, train=False, download=False, transform=transform)
    if subset:
        train_set = Subset(train_set, range(subset))
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=2)
    test_loader = DataLoader(test_set, batch_size=1000, num_workers=2)
    model = build_model("3-layer")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    epochs = []
    for epoch in range(1, max_epochs + 1):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        acc = correct / len(test_set)
        seconds = time.perf_counter() - start
        epochs.append({"epoch": epoch, "test_acc": acc, "seconds": round(seconds, 2)})
        print(f"  tutorial epoch {epoch}: test {acc * 100:.2f}% at {seconds:.1f} s", flush=True)
        if subset == 0 and acc >= TARGET:
            break
    reached = next((e for e in epochs if e["test_acc"] >= TARGET), None)
    return {
        "epochs": epochs,
        "seconds_to_target": reached["seconds"] if reached else None,
        "final_test_acc": epochs[-1]["test_acc"],
        "total_seconds": epochs[-1]["seconds"],
    }


def ours(data_dir: str, subset: int, seed: int, threads: int = 0) -> dict:
    """`fit` with the fast preset; fit itself loads the data, trains, validates and tests."""
    with tempfile.TemporaryDirectory() as runs_dir:
        overrides = {"train_subset": subset} if subset else {}
        if threads:
            overrides["threads"] = threads
        config = make_config(preset="fast", data_dir=data_dir, runs_dir=runs_dir, seed=seed, **overrides)
        prepare_process(config)
        start = time.perf_counter()
        result = fit(config)
        seconds = time.perf_counter() - start
    acc = result.summary.test_acc
    print(f"  ours (--preset fast): test {acc * 100:.2f}% at {seconds:.1f} s", flush=True)
    resolved = {"images_per_sec": round(result.history[-1]["images_per_sec"]) if result.history else None}
    return {
        "test_acc": acc,
        "seconds": round(seconds, 2),
        "seconds_to_target": round(seconds, 2) if acc is not None and acc >= TARGET else None,
        "config": config.to_dict(),
        **resolved,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 training images, 1 epoch, no target")
    parser.add_argument("--max-epochs", type=int, default=5, help="cap for the tutorial pipeline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=str(default_data_dir()))
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads for both pipelines (default: all cores); 1 is steadier on a busy machine",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    subset = 2000 if args.quick else 0
    print("ours: fit(--preset fast)", flush=True)
    mine = ours(args.data_dir, subset, args.seed, args.threads)
    print("tutorial: torchvision MNIST + DataLoader(2 workers) + Adam 1e-3, batch 64", flush=True)
    ref = tutorial(args.data_dir, 1 if args.quick else args.max_epochs, subset, args.seed)

    if args.quick:
        ratio = ref["total_seconds"] / mine["seconds"]
        rows = [
            ["tutorial", "1 epoch (subset)", f"{ref['final_test_acc'] * 100:.2f}%", ref["total_seconds"]],
            ["ours --preset fast", "1 epoch (subset)", f"{mine['test_acc'] * 100:.2f}%", mine["seconds"]],
        ]
        label = "wall ratio (tutorial / ours), same 2,000 images"
    else:
        t_ref, t_ours = ref["seconds_to_target"], mine["seconds_to_target"]
        ratio = t_ref / t_ours if t_ref and t_ours else None
        rows = [
            ["tutorial", f"{len(ref['epochs'])} epochs", f"{ref['final_test_acc'] * 100:.2f}%", t_ref or "not reached"],
            [
                "ours --preset fast",
                f"{mine['config']['epochs']} x {mine['config']['epoch_fraction']:g} epoch",
                f"{mine['test_acc'] * 100:.2f}%",
                t_ours or "not reached",
            ],
        ]
        label = "speed-up to 99.0% (tutorial / ours)"
    print()
    print(table(["pipeline", "trained", "test acc", "seconds to 99.0%" if not args.quick else "seconds"], rows))
    print(f"{label}: {ratio:.1f}x" if ratio else f"{label}: n/a")
    path = write(
        "time_to_accuracy" + ("-quick" if args.quick else ""),
        {
            "quick": args.quick,
            "target": TARGET,
            "threads": torch.get_num_threads(),
            "tutorial": ref,
            "ours": mine,
            "ratio": ratio,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
