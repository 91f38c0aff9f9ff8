"""The `mnist-tui` command: the app with no arguments, and headless subcommands for the same work."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

PROG = "mnist-tui"


class CliError(Exception):
    """One line for the user, exit status 1."""


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_TUI_DATA or the user cache dir)")


def _add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default=os.environ.get("MNIST_TUI_RUNS", "runs"), help="where run folders live (default: runs)")


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `train` and `compare`; None means "use the model's or preset's default"."""
    from .config import PRESETS  # no torch: the parser stays quick

    parser.add_argument("--preset", choices=list(PRESETS), help="a recorded recipe")
    parser.add_argument("--augment", action="store_true", default=None, help="train with augmentation")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--patience", type=int, help="early-stopping patience in epochs (0: off)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--train-subset", type=int, help="train on the first N training images")
    _add_runs_dir(parser)
    _add_data_dir(parser)


def train_overrides(args: argparse.Namespace) -> dict:
    return {
        "augment": args.augment, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "patience": args.patience, "seed": args.seed, "device": args.device, "precision": args.precision,
        "threads": args.threads, "train_subset": args.train_subset, "runs_dir": args.runs_dir,
        "data_dir": str(args.data_dir) if args.data_dir else None,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Train small CNNs on MNIST and look inside them. "
                                     "With no command, opens the terminal app.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    data = sub.add_parser("data", help="fetch or inspect the verified MNIST files")
    data.add_argument("action", choices=["fetch", "info"])
    _add_data_dir(data)

    sub.add_parser("models", help="list the model registry")

    train = sub.add_parser("train", help="train one model and record the run")
    train.add_argument("--model", default=None, help="registry name (see `mnist-tui models`; default 3-layer)")
    train.add_argument("--procs", type=int, default=1, help="data-parallel ranks (torch.distributed)")
    add_train_flags(train)

    evaluate = sub.add_parser("evaluate", help="test accuracy, confusion matrix and per-class scores of a run "
                                               "(of several: each one's accuracy, then their ensemble's)")
    evaluate.add_argument("run", nargs="+", help="run folder or name prefix; two or more are scored as an ensemble "
                                                 "that averages their softmax probabilities")
    _add_runs_dir(evaluate)
    _add_data_dir(evaluate)

    runs = sub.add_parser("runs", help="list recorded runs, newest first")
    _add_runs_dir(runs)

    app = sub.add_parser("app", help="open the terminal app (the default with no command)")
    _add_runs_dir(app)
    _add_data_dir(app)

    serve = sub.add_parser("serve", help="serve the app to a web browser (textual-serve)")
    serve.add_argument("--host", default="localhost")
    serve.add_argument("--port", type=int, default=8000)
    _add_runs_dir(serve)
    _add_data_dir(serve)

    compare = sub.add_parser("compare", help="train 1/2/3-layer and 3-layer+augmentation in parallel and compare")
    compare.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes (default: cores)")
    add_train_flags(compare)

    from .predict import add_parser as add_predict_parser  # argparse only: torch stays unimported
    add_predict_parser(sub)
    return parser


def cmd_data(args) -> int:
    from . import data

    data_dir = Path(args.data_dir) if args.data_dir else data.default_data_dir()
    if args.action == "fetch":
        data.fetch(data_dir, log=print)
        return 0
    from .console import table

    checks = data.check_files(data_dir)
    print(f"data dir: {data.raw_dir(data_dir)}" + ("  (synthetic test data)" if data.is_synthetic(data_dir) else ""))
    print(table(["file", "md5", "status"], [[c.name, c.actual_md5 or "-", "ok" if c.ok else "MISSING" if c.actual_md5 is None else "BAD"] for c in checks]))
    problems = [c.problem for c in checks if c.problem]
    if problems:
        raise CliError(problems[0] + ("" if any(c.actual_md5 for c in checks) else "; run `mnist-tui data fetch`"))
    arrays = data.load_arrays(data_dir)
    train_idx, val_idx = data.split_indices(len(arrays.train_images))
    counts = {
        "train": data.class_counts(arrays.train_labels[train_idx]),
        "val": data.class_counts(arrays.train_labels[val_idx]),
        "test": data.class_counts(arrays.test_labels),
    }
    print()
    print(table(["split", "images"] + [str(d) for d in range(10)], [[k, sum(v)] + v for k, v in counts.items()]))
    return 0


def cmd_models(args) -> int:
    from .console import human_bytes, table
    from .models import REGISTRY, describe

    rows = []
    for name in REGISTRY:
        info = describe(name)
        rows.append([name, f"{info.params:,}", human_bytes(info.size_bytes), human_bytes(info.activation_bytes), info.source, info.description])
    print(table(["name", "params", "size", "act/img", "source", "description"], rows, "lrrrll"))
    return 0


class _CtrlC:
    """First Ctrl-C asks the run to stop after this batch (keeping its best checkpoint); a second one aborts."""

    def __init__(self):
        self.flag = threading.Event()

    def __enter__(self):
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self.flag

    def _handle(self, *_):
        if self.flag.is_set():
            raise KeyboardInterrupt
        self.flag.set()
        print("\nstopping after this batch (Ctrl-C again to abort) ...", file=sys.stderr)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._old)


def cmd_train(args) -> int:
    from .config import make_config
    from .console import EpochPrinter

    config = make_config(args.model, args.preset, **train_overrides(args))
    from .distributed import launch, torchrun_main, under_torchrun

    if under_torchrun():
        return torchrun_main(config)
    if args.procs != 1:
        return launch(config, args.procs)
    from .train import fit

    with _CtrlC() as stop:
        result = fit(config, EpochPrinter(), stop)
    return 0 if result.status in ("finished", "cancelled") else 1


def cmd_evaluate(args) -> int:
    from .console import pct, table
    from .evaluate import evaluate_ensemble, evaluate_run, row_percentages, worst_confusions
    from .runs import resolve_run

    run_dirs = [resolve_run(args.runs_dir, ref) for ref in args.run]
    if len(run_dirs) == 1:
        report = evaluate_run(run_dirs[0], args.data_dir)
        print(f"run: {run_dirs[0]}")
        print(f"test accuracy: {pct(report.test_acc)}  (loss {report.test_loss:.4f}, {len(report.labels):,} images)\n")
    else:
        members, report = evaluate_ensemble(run_dirs, args.data_dir)
        print("each run alone, as it was scored when it finished:")
        print(table(["run", "test acc", "loss"], [[p.name, pct(m.acc), f"{m.loss:.4f}"]
                                                  for p, m in zip(run_dirs, members)], "lrr"))
        print(f"\nensemble of {len(run_dirs)} (mean of their softmax probabilities): test accuracy {pct(report.test_acc)}  "
              f"(loss {report.test_loss:.4f}, {len(report.labels):,} images)\n")
    digits = [str(d) for d in range(10)]
    print("confusion matrix (rows: true, columns: predicted), counts")
    print(table(["true"] + digits, [[d] + row for d, row in zip(range(10), report.confusion.tolist())]))
    print("\nrow percentages")
    print(table(["true"] + digits, [[d] + [f"{v:.1f}" for v in row] for d, row in zip(range(10), row_percentages(report.confusion))], "r" * 11))
    pc = report.per_class
    print()
    print(table(["class", "precision", "recall", "f1", "support"],
                [[d, f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", s] for d, p, r, f, s in zip(range(10), pc["precision"], pc["recall"], pc["f1"], pc["support"])], "rrrrr"))
    worst = worst_confusions(report.confusion)
    if worst:
        print("\nmost confused: " + ", ".join(f"{t}→{p} ({n})" for t, p, n in worst))
    return 0


def cmd_runs(args) -> int:
    from .console import pct, table
    from .runs import list_runs

    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs in {args.runs_dir} yet; start one with `mnist-tui train`")
        return 0
    print(table(["started", "model", "aug", "epochs", "val acc", "test acc", "status", "folder"],
                [[r.started, r.model, "yes" if r.augment else "no", r.epochs_run, pct(r.val_acc), pct(r.test_acc), r.status, r.name] for r in runs],
                "lllrrrll"))
    return 0


def cmd_predict(args) -> int:
    from .predict import cmd_predict as run

    return run(args)


def cmd_compare(args) -> int:
    from .compare import run_compare
    from .config import make_config
    from .console import EpochPrinter, pct, table

    if args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    base = make_config(None, args.preset, **train_overrides(args))
    printers: dict[str, EpochPrinter] = {}

    def report(run_id: str, event) -> None:
        label = run_id.split("-", 1)[1]
        printer = printers.setdefault(run_id, EpochPrinter(tty=False, prefix=f"[{label}] "))
        printer(event)

    print(f"training 4 models, {args.jobs} at a time ...")
    rows, path = run_compare(base, args.jobs, report)
    print()
    print(table(["model", "params", "epochs", "best val acc", "test acc", "seconds", "status"],
                [[r["model"], f"{r['params']:,}" if r["params"] else "-", r["epochs"] if r["epochs"] is not None else "-",
                  pct(r["best_val_acc"]), pct(r["test_acc"]), f"{r['seconds']:.1f}" if r["seconds"] else "-", r["status"]]
                 for r in rows], "lrrrrrl"))
    print(f"\nwrote {path}")
    return 0 if all(r["status"] in ("finished", "cancelled") for r in rows) else 1


def cmd_app(args) -> int:
    from .app import make_app

    make_app(args.runs_dir, args.data_dir).run()
    return 0


def cmd_serve(args) -> int:
    import shlex

    try:
        from textual_serve.server import Server
    except ImportError:
        raise CliError("browser mode needs textual-serve: pip install textual-serve") from None
    command = [sys.executable, "-m", "mnist_tui", "app", "--runs-dir", str(Path(args.runs_dir).resolve())]
    if args.data_dir:
        command += ["--data-dir", str(Path(args.data_dir).resolve())]
    print(f"serving mnist-tui at http://{args.host}:{args.port} (Ctrl-C to stop)")
    Server(shlex.join(command), host=args.host, port=args.port, title="mnist-tui").serve()
    return 0


COMMANDS = {"data": cmd_data, "models": cmd_models, "train": cmd_train, "evaluate": cmd_evaluate, "runs": cmd_runs,
            "predict": cmd_predict, "compare": cmd_compare,
            "app": cmd_app, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    from .omp import choose_wait_policy

    choose_wait_policy()  # before anything imports torch; runs and ranks started from here inherit it
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        args = parser.parse_args(["app"])
    from .data import DataError
    from .device import DeviceError
    from .models import UnknownModel
    from .runs import RunError

    try:
        return COMMANDS[args.command](args)
    except (CliError, DataError, DeviceError, RunError, UnknownModel, ValueError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
