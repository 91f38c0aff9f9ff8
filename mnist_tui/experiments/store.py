"""Where an experiment lives: an Optuna study in a journal file (the default) or a database.

The study is the truth for which trials are queued, running, done, failed or pruned, and for their results.
Nothing here keeps a queue of its own: enqueued trials are Optuna's WAITING trials, and `Study.ask` hands
each one to exactly one worker, whichever storage holds them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mnist_tui.experiments.spec import ExperimentSpec
from mnist_tui.runfolder.status import Status

JOURNAL = "experiments.journal"  # the default storage: one journal file beside the run folders
SPEC_ATTR = "mnist_tui.spec"  # the study's user attr that holds the experiment's spec


class StoreError(Exception):
    """A storage or experiment that cannot be used as asked; one line for the user."""


def default_storage(runs_dir: Path | str) -> str:
    return str(Path(runs_dir) / JOURNAL)


def describe_storage(storage: str) -> str:
    """The storage as the user gave it, without a password."""
    if "://" in storage and "@" in storage:
        scheme, rest = storage.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return storage


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created" on every command


def open_storage(storage: str):
    """A journal file path, or an SQLAlchemy URL (sqlite:///x.db, postgresql://..., mysql://...)."""
    _quiet()
    import optuna

    if "://" in storage:
        try:
            return optuna.storages.RDBStorage(storage, engine_kwargs={"pool_pre_ping": True})
        except ImportError as error:
            raise StoreError(f"{describe_storage(storage)} needs a database driver: {error}") from None
        except Exception as error:  # noqa: BLE001 - SQLAlchemy raises many kinds; one line for the user
            raise StoreError(f"cannot open {describe_storage(storage)}: {_one_line(error)}") from None
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(storage).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as error:
        raise StoreError(f"cannot open the journal {path}: {error.strerror or error}") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _sampler(spec: ExperimentSpec):
    import optuna

    if spec.sampler == "tpe":
        # Few random trials first: a 2-core budget is a dozen trials, not the default's 10 random ones.
        return optuna.samplers.TPESampler(n_startup_trials=min(10, max(3, spec.trials // 3)))
    return optuna.samplers.RandomSampler()


def _pruner(spec: ExperimentSpec):
    import optuna

    if spec.prune == "median":
        # A trial is compared with the median of the trials before it at the same epoch, once a few exist.
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


def create(storage: str, spec: ExperimentSpec):
    """Make the study, record the spec in it, and queue its trials (a grid's cells × seeds, or a search's
    budget of empty trials that the sampler fills in)."""
    import optuna

    store = open_storage(storage)
    if spec.name in list_names(storage, store):
        raise StoreError(f"experiment {spec.name!r} already exists in {describe_storage(storage)}")
    study = optuna.create_study(
        study_name=spec.name, storage=store, direction="maximize", sampler=_sampler(spec), pruner=_pruner(spec)
    )
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    queued = spec.trial_params() if not spec.is_search else [{} for _ in range(spec.trials)]
    if spec.is_search and spec.grid:  # a search inside each grid cell: the cells take turns
        cells = spec.cells()
        queued = [cells[i % len(cells)] for i in range(spec.trials)]
    for slot, params in enumerate(queued):
        study.enqueue_trial(params, user_attrs={"slot": slot})
    return study


def load(storage: str, name: str):
    """The study of an experiment and its spec; StoreError names the experiments that exist if not found."""
    import optuna

    store = open_storage(storage)
    names = list_names(storage, store)
    if name not in names:
        have = f"; experiments there: {', '.join(names)}" if names else "; it holds none"
        raise StoreError(f"no experiment {name!r} in {describe_storage(storage)}{have}")
    probe = optuna.load_study(study_name=name, storage=store)
    spec = ExperimentSpec.from_dict(probe.user_attrs.get(SPEC_ATTR) or {"name": name})
    study = optuna.load_study(study_name=name, storage=store, sampler=_sampler(spec), pruner=_pruner(spec))
    return study, spec


def list_names(storage: str, store=None) -> list[str]:
    import optuna

    if store is None:
        if "://" not in storage and not Path(storage).expanduser().exists():
            return []
        store = open_storage(storage)
    return [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)]


# ---------------------------------------------------------------- trials as the report reads them


def trial_status(state) -> Status:
    """Optuna's trial state in the app's one status vocabulary."""
    from optuna.trial import TrialState

    return {
        TrialState.WAITING: Status.QUEUED,
        TrialState.RUNNING: Status.RUNNING,
        TrialState.COMPLETE: Status.FINISHED,
        TrialState.FAIL: Status.FAILED,
        TrialState.PRUNED: Status.PRUNED,
    }[state]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the study records it."""

    number: int
    status: Status
    params: dict  # the grid and searched values (the seed apart)
    seed: int | None
    val_acc: float | None  # the objective: the kept epoch's validation accuracy
    test_acc: float | None
    run_dir: str | None
    host: str | None
    reason: str | None
    retry_of: int | None
    train_seconds: float | None
    wait_before: float | None  # seconds from the trial's start to its first batch
    wait_after: float | None  # seconds from its last batch to the trial's end
    started: float | None  # Unix times
    ended: float | None
    curve: dict[int, float] = field(default_factory=dict)  # epoch -> validation accuracy, as reported


def _attr(trial, name):
    return trial.user_attrs.get(name)


def trial_record(trial) -> TrialRecord:
    params = dict(trial.params)
    fixed = trial.system_attrs.get("fixed_params") or {}
    for key, value in fixed.items():  # a queued trial's cell is in its fixed params until it starts
        params.setdefault(key, value)
    seed = params.pop("seed", None)
    return TrialRecord(
        number=trial.number,
        status=trial_status(trial.state),
        params=params,
        seed=seed,
        val_acc=trial.value if trial.values else _attr(trial, "val_acc"),
        test_acc=_attr(trial, "test_acc"),
        run_dir=_attr(trial, "run_dir"),
        host=_attr(trial, "host"),
        reason=_attr(trial, "reason"),
        retry_of=_attr(trial, "retry_of"),
        train_seconds=_attr(trial, "train_seconds"),
        wait_before=_attr(trial, "wait_before"),
        wait_after=_attr(trial, "wait_after"),
        started=trial.datetime_start.timestamp() if trial.datetime_start else None,
        ended=trial.datetime_complete.timestamp() if trial.datetime_complete else None,
        curve={int(k): float(v) for k, v in trial.intermediate_values.items()},
    )


def trials(study) -> list[TrialRecord]:
    return [trial_record(t) for t in study.get_trials(deepcopy=False)]


def this_host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "?")


def spec_json(spec: ExperimentSpec) -> str:
    return json.dumps(spec.to_dict(), indent=1)
