"""`mnist-tui experiment new|work|report|list`: experiments from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mnist_tui.cli.flags import add_runs_dir


class ExperimentCliError(Exception):
    """One line for the user, exit status 1."""


def add_parser(sub, add_train_flags) -> None:
    exp = sub.add_parser(
        "experiment",
        help="grids x seeds with confidence intervals, or searches, on a queue that outlives the app",
        description="An experiment is a named set of trials: a grid of train options crossed with seeds, or a "
        "search. Its queue and results live in an Optuna study (a journal file in the runs folder unless "
        "--storage says otherwise); each trial is an ordinary run folder.",
    )
    actions = exp.add_subparsers(dest="action", metavar="ACTION", required=True)

    new = actions.add_parser("new", help="make an experiment and queue its trials")
    new.add_argument("name", help="a name: letters, digits, '.', '_' or '-'")
    new.add_argument(
        "--grid", action="append", default=[], metavar="FIELD=V1,V2", help="a factor and its levels (repeatable)"
    )
    new.add_argument(
        "--reference",
        action="store_true",
        help="the built-in grid that Compare runs: 1/2/3-layer, and 3-layer with augmentation",
    )
    new.add_argument("--seeds", type=int, default=1, help="seeds per cell (default 1; 3 or more give intervals)")
    new.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="FIELD=LOW:HIGH[:log]",
        help="a numeric field to search (repeatable), for example lr=1e-4:1e-2:log",
    )
    new.add_argument("--trials", type=int, default=0, help="a search's number of trials")
    new.add_argument("--sampler", choices=["tpe", "random", "grid"], help="default: grid, or tpe for a search")
    new.add_argument("--prune", choices=["median", "none"], default="none", help="stop poor trials early")
    new.add_argument("--model", default=None, help="the base model (default 3-layer)")
    new.add_argument("--storage", help="a journal file or an SQLAlchemy URL (default: RUNS_DIR/experiments.journal)")
    add_train_flags(new)

    work = actions.add_parser("work", help="train the experiment's queued trials, J at a time, until none is left")
    work.add_argument("name")
    work.add_argument("--jobs", "-j", type=int, default=1, help="trials at a time (default 1)")
    work.add_argument("--storage", help="the experiment's storage (default: RUNS_DIR/experiments.journal)")
    work.add_argument("--detach", action="store_true", help="work in the background; closing the terminal is fine")
    work.add_argument("--nice", type=int, default=0, help=argparse.SUPPRESS)
    add_runs_dir(work)

    report = actions.add_parser("report", help="counts, cells with mean and 95%% interval, effects")
    report.add_argument("name")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--storage", help="the experiment's storage (default: RUNS_DIR/experiments.journal)")
    add_runs_dir(report)

    listing = actions.add_parser("list", help="the experiments in a storage, with their trial counts")
    listing.add_argument("--storage", help="default: RUNS_DIR/experiments.journal")
    add_runs_dir(listing)


def storage_of(args) -> str:
    from mnist_tui.experiments.store import default_storage

    return args.storage or os.environ.get("MNIST_TUI_STORAGE") or default_storage(args.runs_dir)


def cmd_experiment(args, train_overrides) -> int:
    from mnist_tui.experiments.spec import SpecError
    from mnist_tui.experiments.store import StoreError

    try:
        return {"new": _new, "work": _work, "report": _report, "list": _list}[args.action](args, train_overrides)
    except (SpecError, StoreError) as error:
        raise ExperimentCliError(str(error)) from None


def _new(args, train_overrides) -> int:
    from mnist_tui.experiments import store
    from mnist_tui.experiments.spec import make_spec, reference_spec

    base = {k: v for k, v in train_overrides(args).items() if v is not None and k not in ("runs_dir",)}
    if "seed" in base:
        raise ExperimentCliError("an experiment's trials take seeds 0..N-1 from --seeds N; leave out --seed")
    if args.model:
        base["model"] = args.model
    if args.preset:
        base["preset"] = args.preset
    if args.reference:
        if args.grid or args.search:
            raise ExperimentCliError("--reference is a grid of its own; give no --grid or --search with it")
        spec = reference_spec(args.name, base, args.seeds)
    else:
        spec = make_spec(args.name, base, args.grid, args.seeds, args.search, args.trials, args.sampler, args.prune)
    storage = storage_of(args)
    study = store.create(storage, spec)
    queued = len(study.get_trials(deepcopy=False))
    cells = len(spec.cells()) if spec.grid else 1
    what = f"{cells} cell{'s' * (cells != 1)} x {len(spec.seeds)} seed{'s' * (len(spec.seeds) != 1)}"
    if spec.is_search:
        what = f"a {spec.sampler} search of {', '.join(spec.search)}" + (
            f" with the {spec.prune} pruner" if spec.prune != "none" else ""
        )
    print(f"experiment {spec.name}: {queued} trials queued ({what}) in {store.describe_storage(storage)}")
    more = f" --storage {storage}" if args.storage else ""
    if args.runs_dir != "runs":
        more += f" --runs-dir {args.runs_dir}"
    print(f"work it:   mnist-tui experiment work {spec.name} --jobs J{more}   (add --detach to work in the background)")
    print(f"report:    mnist-tui experiment report {spec.name}{more}")
    return 0


def _work(args, _train_overrides) -> int:
    from mnist_tui.experiments import store
    from mnist_tui.experiments.work import Worker, launch_detached_worker, log_path, survive_hangup

    if args.jobs < 1:
        raise ExperimentCliError("--jobs must be at least 1")
    storage = storage_of(args)
    study, spec = store.load(storage, args.name)  # a bad name or storage fails here, not in the background
    if args.detach:
        pid, log = launch_detached_worker(args.name, args.runs_dir, storage, args.jobs)
        print(f"working on {args.name} in the background (pid {pid}); its output goes to {log}")
        print(
            f"follow it with: mnist-tui experiment report {args.name}"
            + (f" --storage {storage}" if args.storage else "")
        )
        return 0
    survive_hangup(log_path(args.runs_dir, args.name))

    def say(line: str) -> None:
        print(line, flush=True)

    worker = Worker(study, spec, args.runs_dir, args.jobs, log=say, nice=args.nice)
    try:
        done = worker.run()
    except KeyboardInterrupt:
        running = len(worker.active)
        print(
            f"stopped taking trials; {running} run{'s' * (running != 1)} keep training and the next look at the "
            "experiment records them (mnist-tui stop --all stops them)",
            file=sys.stderr,
        )
        return 130
    finally:
        worker.close()
    counts = _counts(study)
    print(f"no trial left to take: {done} trained here; " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def _counts(study) -> dict:
    from mnist_tui.experiments.report import COUNT_NAMES
    from mnist_tui.experiments.store import trials

    counts = {name: 0 for name in COUNT_NAMES.values()}
    for record in trials(study):
        counts[COUNT_NAMES[record.status]] += 1
    return counts


def _report(args, _train_overrides) -> int:
    from mnist_tui.experiments import report, store
    from mnist_tui.experiments.work import reconcile

    study, spec = store.load(storage_of(args), args.name)
    notes = reconcile(study)  # a trial whose worker died is settled on every look
    built = report.build(study, spec)
    if args.json:
        print(json.dumps(built, indent=1, default=str))
    else:
        for note in notes:
            print(note)
        print(report.format_text(built))
    return 0


def _list(args, _train_overrides) -> int:
    from mnist_tui.common.text import table
    from mnist_tui.experiments import store

    storage = storage_of(args)
    names = store.list_names(storage)
    if not names:
        print(f"no experiments in {store.describe_storage(storage)}")
        return 0
    rows = []
    for name in names:
        study, spec = store.load(storage, name)
        c = _counts(study)
        rows.append(
            [
                name,
                "search" if spec.is_search else "grid",
                c["done"],
                c["running"],
                c["queued"],
                c["failed"],
                c["pruned"],
            ]
        )
    print(table(["experiment", "kind", "done", "running", "queued", "failed", "pruned"], rows, "llrrrrr"))
    print(f"({store.describe_storage(storage)}; `mnist-tui experiment report NAME` for one)")
    return 0


def here(path: str | Path) -> str:
    return str(Path(path).resolve())
