"""The `mnist-tui` command: the app with no arguments, and headless subcommands for the same work."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from mnist_tui.cli.flags import add_data_dir as _add_data_dir
from mnist_tui.cli.flags import add_runs_dir as _add_runs_dir
from mnist_tui.common.fileio import load_json_object
from mnist_tui.runfolder import runs as runs_module  # torch-free: the record vocabulary
from mnist_tui.runfolder.status import SUCCESS, Status

PROG = "mnist-tui"


class CliError(Exception):
    """One line for the user, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `mnist-tui: error: <message> (see mnist-tui <cmd> --help)`, exit 2.
    Subparsers are made from the parent's class, so every command's parser errs the same way."""

    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `train` and `compare`; None means "use the model's or preset's default"."""
    from mnist_tui.engine.config import PRESETS  # no torch: the parser stays quick

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
        "augment": args.augment,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "precision": args.precision,
        "threads": args.threads,
        "train_subset": args.train_subset,
        "runs_dir": args.runs_dir,
        "data_dir": str(args.data_dir) if args.data_dir else None,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        usage=f"{PROG} [-h] [--runs-dir RUNS_DIR] [--data-dir DATA_DIR] | {PROG} COMMAND ...",
        description="Train small CNNs on MNIST and look inside them. With no command, opens the terminal app "
        "(with --runs-dir and --data-dir, as `mnist-tui app` takes them).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog=PROG)  # `mnist-tui train`, not the usage
    parser.commands = sub.choices  # name -> its parser, which names itself in an error

    data = sub.add_parser("data", help="fetch or inspect the verified MNIST files")
    data.add_argument("action", choices=["fetch", "info"])
    _add_data_dir(data)

    sub.add_parser("models", help="list the model registry")

    train = sub.add_parser("train", help="train one model and record the run")
    train.add_argument("--model", default=None, help="registry name (see `mnist-tui models`; default 3-layer)")
    train.add_argument(
        "--resume",
        metavar="RUN",
        help="continue a cancelled or interrupted run in its own folder, "
        "from its last completed epoch, with its own settings",
    )
    train.add_argument("--procs", type=int, default=1, help="data-parallel ranks (torch.distributed)")
    add_train_flags(train)

    evaluate = sub.add_parser(
        "evaluate",
        help="test accuracy, confusion matrix and per-class scores of a run "
        "(of several: each one's accuracy, then their ensemble's)",
    )
    evaluate.add_argument(
        "run",
        nargs="+",
        help="run folder or name prefix; two or more are scored as an ensemble "
        "that averages their softmax probabilities",
    )
    _add_runs_dir(evaluate)
    _add_data_dir(evaluate)

    runs = sub.add_parser("runs", help="list recorded runs, newest first (live ones with their progress)")
    runs.add_argument(
        "--compare", nargs="+", metavar="RUN", help="compare these runs: scores, speed and differing config"
    )
    _add_runs_dir(runs)

    watch = sub.add_parser(
        "watch", help="follow live runs with a progress line until they end (Ctrl-C leaves them training)"
    )
    watch.add_argument("run", nargs="?", help="run folder or name prefix (default: every live run)")
    _add_runs_dir(watch)

    stop = sub.add_parser("stop", help="ask live runs to stop after their current batch, keeping their checkpoints")
    stop.add_argument("run", nargs="*", help="run folders or name prefixes")
    stop.add_argument("--all", action="store_true", help="every live run in the runs dir")
    _add_runs_dir(stop)

    app = sub.add_parser("app", help="open the terminal app (the default with no command)")
    _add_runs_dir(app)
    _add_data_dir(app)

    serve = sub.add_parser("serve", help="serve the app to a web browser (textual-serve)")
    serve.add_argument("--host", default="localhost")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--token",
        default=os.environ.get("MNIST_TUI_TOKEN"),
        help="the key in the URL (default: $MNIST_TUI_TOKEN, else a new random one per start)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name the browser may use for this server (loopback names and --host are allowed)",
    )
    _add_runs_dir(serve)
    _add_data_dir(serve)

    compare = sub.add_parser("compare", help="train 1/2/3-layer and 3-layer+augmentation in parallel and compare")
    compare.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes (default: cores)")
    add_train_flags(compare)

    from mnist_tui.cli.experiment import add_parser as add_experiment_parser

    add_experiment_parser(sub, add_train_flags)

    predict = sub.add_parser("predict", help="predict the digit in image files (PNG/JPEG) with a trained run")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files, any size; dark-on-light is inverted")
    predict.add_argument("--run", default=None, help="run folder or name prefix (default: the default or best run)")
    predict.add_argument("--json", action="store_true", help="print JSON with all ten probabilities")
    predict.add_argument("--top", type=int, default=3, metavar="K", help="classes to show per image (default 3)")
    _add_runs_dir(predict)

    inspect = sub.add_parser(
        "inspect", help="per-layer shapes, parameters, MACs and activation memory of a model or run"
    )
    inspect.add_argument(
        "target", metavar="MODEL|RUN", help="registry name (see `mnist-tui models`) or run folder/prefix"
    )
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_runs_dir(inspect)

    export = sub.add_parser("export", help="write a run's model as one ONNX file and check it with onnxruntime")
    export.add_argument("run", help="run folder or name prefix")
    export.add_argument(
        "--out", default=None, metavar="FILE.onnx", help="where to write it (default: model.onnx in the run)"
    )
    _add_runs_dir(export)
    _add_data_dir(export)
    return parser


def cmd_data(args) -> int:
    from mnist_tui.engine import data
    from mnist_tui.engine.fetch import fetch
    from mnist_tui.engine.splits import split_indices

    data_dir = Path(args.data_dir) if args.data_dir else data.default_data_dir()
    if args.action == "fetch":
        fetch(data_dir, log=print)
        return 0
    from mnist_tui.common.text import table

    checks = data.check_files(data_dir)
    print(f"data dir: {data.raw_dir(data_dir)}" + ("  (synthetic test data)" if data.is_synthetic(data_dir) else ""))
    print(
        table(
            ["file", "md5", "status"],
            [
                [c.name, c.actual_md5 or "-", "ok" if c.ok else "MISSING" if c.actual_md5 is None else "BAD"]
                for c in checks
            ],
        )
    )
    problems = [c.problem for c in checks if c.problem]
    if problems:
        hint = "" if any(c.actual_md5 for c in checks) else f"; run {data.fetch_command(data_dir)}"
        raise CliError(problems[0] + hint)
    arrays = data.load_arrays(data_dir)
    train_idx, val_idx = split_indices(len(arrays.train_images))
    counts = {
        "train": data.class_counts(arrays.train_labels[train_idx]),
        "val": data.class_counts(arrays.train_labels[val_idx]),
        "test": data.class_counts(arrays.test_labels),
    }
    print()
    print(table(["split", "images"] + [str(d) for d in range(10)], [[k, sum(v)] + v for k, v in counts.items()]))
    return 0


def cmd_models(args) -> int:
    from mnist_tui.common.text import human_bytes, table
    from mnist_tui.engine.models import REGISTRY, describe

    rows = []
    for name in REGISTRY:
        info = describe(name)
        rows.append(
            [
                name,
                f"{info.params:,}",
                human_bytes(info.size_bytes),
                human_bytes(info.activation_bytes),
                info.source,
                info.description,
            ]
        )
    print(table(["name", "params", "size", "peak act", "source", "description"], rows, "lrrrll"))
    print("peak act: one fp32 image's activations at its busiest layer (in + out); `inspect NAME` sums all layers")
    return 0


class _StopSignals:
    """Ctrl-C asks the run to stop after this batch (keeping its checkpoints); a second Ctrl-C aborts.
    SIGTERM and SIGHUP (a closed terminal, a dropped SSH session) stop it the same way and mark it
    interrupted, so `--resume` can continue it; the exit status is then 128 + the signal's number."""

    def __init__(self):
        from mnist_tui.runfolder.live import FolderStop

        self.flag = FolderStop()
        self.signum = 0

    def __enter__(self):
        self._old = {signal.SIGINT: signal.signal(signal.SIGINT, self._interrupt)}
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                number = getattr(signal, name)
                self._old[number] = signal.signal(number, self._terminate)
        return self

    def _interrupt(self, *_):
        if self.flag.is_set():
            raise KeyboardInterrupt
        self.flag.set(Status.CANCELLED.value)
        try:
            print("\nstopping after this batch (Ctrl-C again to abort) ...", file=sys.stderr)
        except OSError:
            pass  # the terminal or the pipe is gone

    def _terminate(self, signum, _frame):
        self.signum = signum
        self.flag.set(Status.INTERRUPTED.value, f"stopped by {signal.Signals(signum).name}")
        try:
            print(f"\n{signal.Signals(signum).name}: stopping after this batch ...", file=sys.stderr)
        except OSError:
            pass  # the terminal is gone

    def __exit__(self, *exc):
        for number, handler in self._old.items():
            signal.signal(number, handler)


def cmd_train(args) -> int:
    from mnist_tui.cli.console import EpochPrinter
    from mnist_tui.engine.config import make_config

    run_dir = None
    if args.resume:
        from mnist_tui.engine.config import TrainConfig
        from mnist_tui.runfolder import runs
        from mnist_tui.runfolder.names import reopen
        from mnist_tui.runfolder.record import CONFIG, RESUME
        from mnist_tui.runfolder.status import RESUMABLE, Status

        given = [k for k, v in train_overrides(args).items() if v is not None and k not in ("runs_dir", "data_dir")]
        if given or args.model or args.preset or args.procs != 1:
            raise CliError("--resume continues a run with its own settings; give no other training options")
        run_dir = runs.resolve_run(args.runs_dir, args.resume)
        info = runs.read_run(run_dir)
        if info is None or info.status not in RESUMABLE:
            raise CliError(
                f"{run_dir.name} is {info.status if info else 'not a run'}; only cancelled or interrupted "
                "runs can be resumed"
            )
        if not (run_dir / RESUME).exists():
            raise CliError(f"{run_dir.name} has no resume state; it ended before its first epoch")
        config = TrainConfig.from_dict(load_json_object(run_dir / CONFIG)).validate()
        run_dir = reopen(run_dir)
        print(f"resuming {run_dir.name} after epoch {info.epochs_run}")
    else:
        config = make_config(args.model, args.preset, **train_overrides(args))
        from mnist_tui.cli.distributed import launch, torchrun_main, under_torchrun

        if under_torchrun():
            return torchrun_main(config)
        if args.procs != 1:
            return launch(config, args.procs)
    from mnist_tui.training.train import fit, prepare_process

    prepare_process(config)
    printer = EpochPrinter()
    with _StopSignals() as signals:
        try:
            result = fit(config, printer, signals.flag, run_dir=run_dir, resume=bool(args.resume))
        except Exception:
            if printer.failed:  # fit printed its one "failed: reason" line and recorded the run
                return 1
            if run_dir is not None and run_dir.exists():
                from mnist_tui.runfolder import runs
                from mnist_tui.runfolder.names import reopen
                from mnist_tui.runfolder.record import CONFIG, RESUME
                from mnist_tui.runfolder.status import RESUMABLE, Status

                runs.mark_ended(run_dir, Status.INTERRUPTED, "the resumed run could not start")
            raise
    if signals.signum:
        return 128 + signals.signum
    return 0 if result.status in SUCCESS else 1


def cmd_evaluate(args) -> int:
    from mnist_tui.common.text import pct, table
    from mnist_tui.engine.evaluate import row_percentages, worst_confusions
    from mnist_tui.runfolder.runs import resolve_run
    from mnist_tui.training.evaluation import agreement_line, evaluate_ensemble, evaluate_run, recorded_score

    run_dirs = [resolve_run(args.runs_dir, ref) for ref in args.run]
    if len(run_dirs) == 1:
        report = evaluate_run(run_dirs[0], args.data_dir)
        recorded = recorded_score(run_dirs[0])
        print(f"run: {run_dirs[0]}")
        print(f"test accuracy: {pct(report.test_acc)}  (loss {report.test_loss:.4f}, {len(report.labels):,} images)")
        print(agreement_line(report.test_acc, recorded) + "\n")
    else:
        members, report = evaluate_ensemble(run_dirs, args.data_dir)
        print("each run alone, with its own recorded precision, normalisation and test-time augmentation:")
        print(
            table(
                ["run", "test acc", "loss"],
                [[p.name, pct(m.acc), f"{m.loss:.4f}"] for p, m in zip(run_dirs, members)],
                "lrr",
            )
        )
        print(
            f"\nensemble of {len(run_dirs)} (mean of their softmax probabilities): "
            f"test accuracy {pct(report.test_acc)}  "
            f"(loss {report.test_loss:.4f}, {len(report.labels):,} images)\n"
        )
    digits = [str(d) for d in range(10)]
    print("confusion matrix (rows: true, columns: predicted), counts")
    print(table(["true"] + digits, [[d] + row for d, row in zip(range(10), report.confusion.tolist())]))
    print("\nrow percentages")
    print(
        table(
            ["true"] + digits,
            [[d] + [f"{v:.1f}" for v in row] for d, row in zip(range(10), row_percentages(report.confusion))],
            "r" * 11,
        )
    )
    pc = report.per_class
    print()
    print(
        table(
            ["class", "precision", "recall", "f1", "support"],
            [
                [d, f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", s]
                for d, p, r, f, s in zip(range(10), pc["precision"], pc["recall"], pc["f1"], pc["support"])
            ],
            "rrrrr",
        )
    )
    worst = worst_confusions(report.confusion)
    if worst:
        print("\nmost confused: " + ", ".join(f"{t}→{p} ({n})" for t, p, n in worst))
    return 0


def _progress(info) -> str:
    if info.progress:
        epoch, epochs, batch, batches = info.progress
        return f"epoch {epoch}/{epochs} batch {batch}/{batches}"
    return info.reason if info.status in (Status.UNREADABLE, Status.FAILED, Status.INTERRUPTED) else ""


def cmd_runs(args) -> int:
    if args.compare:
        return cmd_compare_runs(args)
    from mnist_tui.common.text import pct, table
    from mnist_tui.runfolder.runs import list_runs

    runs = list_runs(args.runs_dir)
    if not runs:
        print(
            f"no runs in {Path(args.runs_dir).resolve()} yet (set with --runs-dir or MNIST_TUI_RUNS); "
            "start one with `mnist-tui train`"
        )
        return 0
    print(
        table(
            [
                "started",
                "model",
                "aug",
                "images",
                "epochs",
                "val acc",
                "test acc",
                "status",
                "folder",
                "progress / reason",
            ],
            [
                [
                    r.started,
                    r.model,
                    "yes" if r.augment else "no",
                    f"{r.train_images:,}" if r.train_images else "-",
                    f"{r.epochs_run}/{r.epochs}" if r.epochs else r.epochs_run,
                    pct(r.val_acc),
                    pct(r.test_acc),
                    r.status,
                    r.name,
                    _progress(r)[:80],
                ]
                for r in runs
            ],
            "lllrrrrlll",
        )
    )
    return 0


def _live_runs(args, refs: list[str]):
    from mnist_tui.runfolder.runs import list_runs, read_run, resolve_run
    from mnist_tui.runfolder.status import Status

    if refs:
        infos = [read_run(resolve_run(args.runs_dir, ref)) for ref in refs]
        return [i for i in infos if i is not None]
    return [r for r in list_runs(args.runs_dir) if r.status == Status.RUNNING]


def cmd_watch(args) -> int:
    from mnist_tui.cli.console import EpochPrinter
    from mnist_tui.service.worker import TrainingService

    infos = _live_runs(args, [args.run] if args.run else [])
    live = [i for i in infos if i.status == Status.RUNNING]
    for info in infos:
        if info.status != Status.RUNNING:
            print(f"{info.name}: {info.status}" + (f" ({info.reason})" if info.reason else ""))
    if not live:
        if not args.run:
            print(f"no live runs in {Path(args.runs_dir).resolve()}")
        return 0
    service = TrainingService()
    printers = {}
    failed = False
    try:
        ids = {service.attach(info.path): info for info in live}
        for run_id in ids:
            printers[run_id] = EpochPrinter(prefix="" if len(ids) == 1 else f"[{run_id}] ")
        print(f"watching {len(ids)} run(s); Ctrl-C stops watching, not training")
        for event in service.iter_events():
            printers[event.run_id](event)
            failed |= type(event).__name__ == "RunFailed"
    except KeyboardInterrupt:
        print("\nstopped watching; the runs go on", file=sys.stderr)
        return 130
    finally:
        service.close(stop_runs=False)
    return 1 if failed else 0


def cmd_stop(args) -> int:
    from mnist_tui.runfolder.live import request_stop
    from mnist_tui.runfolder.record import RESUME

    if not args.run and not args.all:
        raise CliError("name the runs to stop, or give --all")
    infos = _live_runs(args, args.run)
    live = [i for i in infos if i.status == Status.RUNNING]
    for info in infos:
        if info.status != Status.RUNNING:
            print(f"{info.name} is not running ({info.status})")
    if not live:
        print(f"no live runs to stop in {Path(args.runs_dir).resolve()}")
        return 0 if args.all else 1
    for info in live:
        request_stop(info.path)
        kept = (
            f"its checkpoint is kept; resume with `mnist-tui train --resume {info.name.rsplit('_', 1)[0]}`"
            if (info.path / RESUME).exists()
            else "no epoch has ended yet, so it leaves no checkpoint to resume from"
        )
        print(f"asked {info.name} to stop after its current batch ({kept})")
    return 0


def cmd_compare_runs(args) -> int:
    from mnist_tui.analysis.comparison import compare_runs, format_comparison
    from mnist_tui.runfolder.runs import resolve_run

    print(format_comparison(compare_runs([resolve_run(args.runs_dir, ref) for ref in args.compare])))
    return 0


def predict_line(result, k: int = 3) -> str:
    """`digit.png: 7 (98.1%)  2: 1.2%  1: 0.3%` for a predict.FileResult."""
    from mnist_tui.common.text import pct

    (digit, p), *rest = result.ranked(k)
    return f"{result.path}: {digit} ({pct(p, 1)})" + "".join(f"  {d}: {pct(q, 1)}" for d, q in rest)


def predict_json(result, k: int) -> dict:
    if result.error:
        return {"path": result.path, "error": result.error}
    return {
        "path": result.path,
        "prediction": result.top,
        "confidence": round(float(result.probs[result.top]), 6),
        "top": [{"digit": d, "prob": round(p, 6)} for d, p in result.ranked(k)],
        "probs": [round(float(p), 6) for p in result.probs],
    }


def cmd_predict(args) -> int:
    import json

    if not 1 <= args.top <= 10:
        raise CliError("--top must be between 1 and 10")
    from mnist_tui.analysis.predict import load_model, predict_files
    from mnist_tui.common.places import runs_place

    stale = runs_module.clear_stale_default(args.runs_dir)
    if stale:
        print(
            f"{PROG}: note: {runs_place(args.runs_dir)}/DEFAULT named {stale}, which no longer exists; cleared it",
            file=sys.stderr,
        )
    loaded = load_model(args.runs_dir, args.run)
    if not args.run:  # say which run answered, on stderr so the result lines stay one per image
        print(
            f"{PROG}: using run {loaded.run_dir.resolve()} ({loaded.why}; choose another with --run)", file=sys.stderr
        )
    results = predict_files(loaded.run, args.images)
    for result in results:
        if result.error:
            print(f"{PROG}: error: {result.error}", file=sys.stderr)
        elif not args.json:
            print(predict_line(result, args.top))
    if args.json:
        payload = {
            "run": str(loaded.run_dir),
            "model": loaded.checkpoint.get("model_name"),
            "results": [predict_json(r, args.top) for r in results],
        }
        print(json.dumps(payload, indent=2))
    return 1 if any(r.error for r in results) else 0


def cmd_compare(args) -> int:
    from mnist_tui.cli.console import EpochPrinter
    from mnist_tui.common.text import table
    from mnist_tui.engine.config import make_config
    from mnist_tui.service.compare import TABLE_HEADERS, run_compare, table_cells

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
    print(table(TABLE_HEADERS, table_cells(rows), "lrrrrrl"))
    if isinstance(path, OSError):
        raise CliError(f"could not write compare.json: {path.strerror or path}")
    print(f"\nwrote {path}")
    return 0 if all(r["status"] in SUCCESS for r in rows) else 1


def cmd_inspect(args) -> int:
    import json

    from mnist_tui.analysis.inspect import format_table, inspect_target

    inspection = inspect_target(args.target, args.runs_dir)
    print(json.dumps(inspection.to_json(), indent=2) if args.json else format_table(inspection))
    return 0


def cmd_export(args) -> int:
    from mnist_tui.analysis.export import INSTALL, OPSET, export_run, missing_packages
    from mnist_tui.common.text import human_bytes, pct
    from mnist_tui.runfolder.runs import resolve_run

    missing = missing_packages()
    if missing:
        raise CliError(f"export needs {', '.join(missing)}; install with: {INSTALL}")
    run_dir = resolve_run(args.runs_dir, args.run)
    report = export_run(run_dir, args.out, args.data_dir)
    print(
        f"wrote {report.path} ({human_bytes(report.size_bytes)}, opset {OPSET}, one file"
        + (", test-time augmentation inside" if report.tta else "")
        + ")"
    )
    print(
        f"onnxruntime (CPU) against PyTorch fp32 on {report.images:,} test images: argmax agrees on "
        f"{report.agree:,} ({pct(report.agreement)}), largest absolute logit difference {report.max_abs_diff:.2e}"
    )
    note = f"; the run was tested in {report.precision}" if report.precision != "fp32" else ""
    print(f"ONNX test accuracy {pct(report.onnx_acc)} (recorded {pct(report.recorded_acc)}{note})")
    if report.agree != report.images:
        raise CliError(f"onnxruntime disagrees with PyTorch on {report.images - report.agree} test images")
    return 0


def cmd_app(args) -> int:
    from mnist_tui.app.app import make_app

    make_app(args.runs_dir, args.data_dir).run()
    return 0


def cmd_serve(args) -> int:
    import shlex

    try:
        from mnist_tui.cli.serve import serve
    except ImportError:
        raise CliError("browser mode needs textual-serve: pip install textual-serve") from None
    command = [sys.executable, "-m", "mnist_tui", "app", "--runs-dir", str(Path(args.runs_dir).resolve())]
    if args.data_dir:
        command += ["--data-dir", str(Path(args.data_dir).resolve())]
    try:
        serve(shlex.join(command), args.host, args.port, args.token, args.allow_host)
    except OSError as error:  # the port is taken, or the host is not ours
        raise CliError(f"cannot serve on {args.host}:{args.port}: {error.strerror or error}") from None
    return 0


def cmd_experiment(args) -> int:
    from mnist_tui.cli.experiment import ExperimentCliError
    from mnist_tui.cli.experiment import cmd_experiment as run

    try:
        return run(args, train_overrides)
    except ExperimentCliError as error:
        raise CliError(str(error)) from None


COMMANDS = {
    "data": cmd_data,
    "experiment": cmd_experiment,
    "models": cmd_models,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "runs": cmd_runs,
    "predict": cmd_predict,
    "compare": cmd_compare,
    "watch": cmd_watch,
    "stop": cmd_stop,
    "inspect": cmd_inspect,
    "export": cmd_export,
    "app": cmd_app,
    "serve": cmd_serve,
}


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors that are the user's to fix. Looked up after the fact, so the app's start-up does not
    import torch (the engine's device and models) just to name them: a module never imported raised nothing."""
    errors: list[type[BaseException]] = [CliError, ValueError]
    for module, name in (
        ("mnist_tui.engine.idx", "DataError"),
        ("mnist_tui.engine.device", "DeviceError"),
        ("mnist_tui.engine.models", "UnknownModel"),
        ("mnist_tui.runfolder.record", "RunError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            errors.append(getattr(loaded, name))
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    from mnist_tui.common.omp import choose_wait_policy

    choose_wait_policy()  # before anything imports torch; runs and ranks started from here inherit it
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["app", *argv]  # no command: the app, with whatever options were given (`mnist-tui --runs-dir X`)
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the command's own parser, so the hint points at its --help
        parser.commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `predict --json ... | head`: the reader left, so leave quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # or the exit's flush complains
        return 141  # as if killed by SIGPIPE, like other tools in a pipe
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if isinstance(error, user_errors()):
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 1
        if isinstance(error, OSError):  # a full disk, a read-only or missing folder: one line, not a traceback
            where = f" ({error.filename})" if getattr(error, "filename", None) else ""
            print(f"{PROG}: error: {error.strerror or error}{where}", file=sys.stderr)
            return 1
        raise
