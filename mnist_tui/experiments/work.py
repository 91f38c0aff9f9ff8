"""Working an experiment: take queued trials from the study, train each as a detached run, record the result.

Each trial is an ordinary run folder, started by the same TrainingService as the app's runs, so a run
keeps training whatever happens to the process that took its trial. The study knows which process took a
trial (host, pid and the pid's start time) and, through a heartbeat, whether it is still there. Any look at
the experiment (a worker starting, `report`, the app) reconciles the trials whose process is gone:

- the trial's run still trains: a worker adopts it and follows it to its end;
- the run ended: its folder's summary is the result (done, pruned, cancelled, failed);
- the run died with the process, or never started: the trial is marked failed and queued again, once.

So no trial is left running when its worker dies, and none runs twice while its run is alive."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.experiments.spec import ExperimentSpec
from mnist_tui.experiments.store import this_host
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live, runs
from mnist_tui.runfolder.names import find_renamed, stem
from mnist_tui.runfolder.status import Status

BEAT_EVERY = 15.0  # seconds between a worker's heartbeats for each trial it runs
STALE_AFTER = live.STALE_AFTER  # a trial whose worker has not beaten for this long counts as abandoned


def process_identity(pid: int | None = None) -> dict:
    """This process as other processes can recognise it later: host, pid and the pid's start time (a pid
    alone can be reused after the process is gone)."""
    import psutil

    pid = pid or os.getpid()
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = None
    return {"host": this_host(), "pid": pid, "started": started}


def identity_alive(worker: dict | None) -> bool | None:
    """True or False for a worker on this host; None when it is on another host (only its heartbeat tells)."""
    if not isinstance(worker, dict) or worker.get("host") != this_host():
        return None
    import psutil

    try:
        process = psutil.Process(int(worker.get("pid")))
        started = worker.get("started")
        return process.status() != psutil.STATUS_ZOMBIE and (
            started is None or abs(process.create_time() - float(started)) < 1.0
        )
    except (psutil.Error, TypeError, ValueError):
        return False


def _frozen_by_number(study, number: int):
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    return None


def _trial_id(study, number: int) -> int:
    store = study._storage
    return store.get_trial_id_from_study_id_trial_number(store.get_study_id_from_name(study.study_name), number)


def take(study):
    """The oldest queued trial, now running for this process; None when the queue is empty. `Study.ask`
    would create a new trial when the queue empties under it; this takes only what was queued."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    store = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = _trial_id(study, frozen.number)
        try:
            if not store.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                continue
        except UpdateFinishedTrialError:
            continue
        return optuna.Trial(study, trial_id)
    return None


def suggest(trial, spec: ExperimentSpec) -> dict:
    """The trial's values: a grid's cell and seed come from the queue; a search's from its sampler."""
    params = {name: trial.suggest_categorical(name, levels) for name, levels in spec.grid.items()}
    for name, span in spec.search.items():
        if span.integer:
            params[name] = trial.suggest_int(name, int(span.low), int(span.high), log=span.log)
        else:
            params[name] = trial.suggest_float(name, span.low, span.high, log=span.log)
    params["seed"] = trial.suggest_categorical("seed", spec.seeds)
    return params


def _fail(study, number: int, reason: str, requeue: bool) -> bool:
    """Mark a trial failed with its reason; queue a copy once (never a copy of a copy). False if another
    look already ended it."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    frozen = _frozen_by_number(study, number)
    if frozen is None or frozen.state.is_finished():
        return False
    try:
        study._storage.set_trial_user_attr(_trial_id(study, number), "reason", reason)
        study.tell(number, state=TrialState.FAIL)
    except (UpdateFinishedTrialError, ValueError, RuntimeError):
        return False
    if requeue and frozen.user_attrs.get("retry_of") is None:
        fixed = frozen.system_attrs.get("fixed_params") or dict(frozen.params)
        study.enqueue_trial(fixed, user_attrs={"slot": frozen.user_attrs.get("slot"), "retry_of": number})
    return True


def _record_end(study, number: int, run_dir: Path, status: str, summary, wait_after: float | None = None) -> None:
    """Tell the study how a trial's run ended, from the run's own summary."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    store, trial_id = study._storage, _trial_id(study, number)
    attrs = {"run_dir": str(run_dir)}
    if summary is not None:
        attrs.update(test_acc=summary.test_acc, val_acc=summary.val_acc, train_seconds=summary.train_seconds)
    if wait_after is not None:
        attrs["wait_after"] = round(wait_after, 3)
    for key, value in attrs.items():
        store.set_trial_user_attr(trial_id, key, value)
    try:
        if status == Status.FINISHED and summary is not None and summary.val_acc is not None:
            study.tell(number, summary.val_acc)
        elif status == Status.PRUNED:
            study.tell(number, state=TrialState.PRUNED)
        elif status == Status.CANCELLED:
            _fail(study, number, "its run was cancelled (stopped by a user)", requeue=False)
        elif status == Status.INTERRUPTED:
            _fail(study, number, f"its run was interrupted: {getattr(summary, 'reason', None) or '?'}", requeue=True)
        else:
            reason = getattr(summary, "reason", None) or f"its run ended {status}"
            _fail(study, number, f"its run failed: {reason}", requeue=False)
    except (UpdateFinishedTrialError, ValueError, RuntimeError):
        pass  # another look recorded it first


def _current_folder(run_dir: str | None) -> Path | None:
    if not run_dir:
        return None
    path = Path(run_dir)
    if path.is_dir():
        return path
    return find_renamed(path.parent, stem(path))


def reconcile(study, adopt: Callable[[int, Path], None] | None = None) -> list[str]:
    """Settle every running trial whose worker is gone (see the module's docstring). `adopt(number, run_dir)`
    takes over a trial whose run still trains; without it (a viewer's look) such a trial is left as it is
    until its run ends. Returns one line per trial it changed."""
    from optuna.trial import TrialState

    from mnist_tui.runfolder.record import read_summary

    said = []
    now = time.time()
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = frozen.user_attrs.get("worker")
        alive = identity_alive(worker)
        if alive is None:  # another host: its heartbeat is all we have
            beat = frozen.user_attrs.get("beat") or (frozen.datetime_start.timestamp() if frozen.datetime_start else 0)
            alive = now - float(beat) < STALE_AFTER
            if not alive and not isinstance(worker, dict):
                alive = False
        if alive:
            continue
        number = frozen.number
        folder = _current_folder(frozen.user_attrs.get("run_dir"))
        where = f"on {worker.get('host')}" if isinstance(worker, dict) else ""
        if folder is None:
            host = worker.get("host") if isinstance(worker, dict) else None
            if host not in (None, this_host()) and frozen.user_attrs.get("run_dir"):
                why = f"its worker {where} stopped reporting for over {STALE_AFTER:.0f} s"
            else:
                why = f"its worker {where} ended before its run started".replace("  ", " ")
            if _fail(study, number, why, requeue=True):
                said.append(f"trial #{number} failed ({why}); queued again once")
            continue
        info = runs.read_run(folder)
        if info is not None and info.status == Status.RUNNING:
            if adopt is not None:
                adopt(number, folder)
                said.append(f"trial #{number}: its worker is gone, its run {folder.name} trains on; following it")
            continue
        try:
            summary = read_summary(info.path if info else folder)
        except (OSError, ValueError):
            summary = None
        status = info.status if info is not None else Status.FAILED
        _record_end(study, number, info.path if info else folder, status, summary)
        said.append(f"trial #{number}: recorded from its run folder ({status})")
    return said


@dataclass
class Active:
    number: int
    trial: object  # optuna.Trial
    taken: float  # monotonic time the trial was taken
    run_dir: Path | None = None
    first_batch: float | None = None
    last_batch: float | None = None
    prune_asked: bool = False


class Worker:
    """Works an experiment with `jobs` runs at a time until its queue is empty and its runs have ended."""

    def __init__(
        self,
        study,
        spec: ExperimentSpec,
        runs_dir: Path | str,
        jobs: int = 1,
        log: Callable[[str], None] = print,
        service=None,
        nice: int = 0,
    ):
        from mnist_tui.service.worker import TrainingService

        self.study, self.spec, self.runs_dir, self.jobs, self.log = study, spec, Path(runs_dir), max(1, jobs), log
        self.service = service or TrainingService(max_jobs=self.jobs, nice=nice)
        self.active: dict[str, Active] = {}  # run id -> its trial
        self.identity = process_identity()
        self.stopping = False
        self._beat_at = 0.0
        self.done = 0

    # ------------------------------------------------ the loop

    def run(self) -> int:
        for line in reconcile(self.study, adopt=self._adopt):
            self.log(line)
        while True:
            while not self.stopping and len(self.active) < self.jobs:
                trial = take(self.study)
                if trial is None:
                    break
                self._start(trial)
            if not self.active:
                return self.done
            event = self.service.next_event(timeout=0.5)
            while event is not None:
                self._on_event(event)
                event = self.service.next_event(timeout=0)
            self._beat()

    def _start(self, trial) -> None:
        store, trial_id = self.study._storage, trial._trial_id
        store.set_trial_user_attr(trial_id, "worker", self.identity)
        store.set_trial_user_attr(trial_id, "host", self.identity["host"])
        store.set_trial_user_attr(trial_id, "beat", time.time())
        try:
            params = suggest(trial, self.spec)
            config = self.spec.config_for(params, str(self.runs_dir), trial.number)
            run_id = self.service.start(config)
        except Exception as error:  # noqa: BLE001 - a trial that cannot start fails alone, in one line
            reason = f"it could not start: {type(error).__name__}: {error}"
            _fail(self.study, trial.number, reason, requeue=False)
            self.log(f"trial #{trial.number} failed: {reason}")
            return
        self.active[run_id] = Active(trial.number, trial, time.monotonic())
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        self.log(f"trial #{trial.number} started: {shown}")

    def _adopt(self, number: int, run_dir: Path) -> None:
        import optuna

        trial_id = _trial_id(self.study, number)
        self.study._storage.set_trial_user_attr(trial_id, "worker", self.identity)
        self.study._storage.set_trial_user_attr(trial_id, "beat", time.time())
        run_id = self.service.attach(run_dir)
        active = Active(number, optuna.Trial(self.study, trial_id), time.monotonic(), run_dir=run_dir)
        frozen = _frozen_by_number(self.study, number)
        active.first_batch = active.taken if frozen is not None and frozen.user_attrs.get("wait_before") else None
        self.active[run_id] = active

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._beat_at < BEAT_EVERY:
            return
        self._beat_at = now
        store = self.study._storage
        for active in self.active.values():
            store.set_trial_user_attr(active.trial._trial_id, "beat", time.time())

    # ------------------------------------------------ events of the runs it follows

    def _on_event(self, event) -> None:
        active = self.active.get(event.run_id)
        if active is None:
            return
        store, trial_id = self.study._storage, active.trial._trial_id
        if isinstance(event, ev.RunStarted):
            active.run_dir = Path(event.run_dir)
            store.set_trial_user_attr(trial_id, "run_dir", event.run_dir)
        elif isinstance(event, ev.BatchProgress):
            now = time.monotonic()
            if active.first_batch is None:
                active.first_batch = now
                store.set_trial_user_attr(trial_id, "wait_before", round(now - active.taken, 3))
            active.last_batch = now
        elif isinstance(event, ev.EpochCompleted):
            active.last_batch = time.monotonic()
            active.trial.report(event.val_acc, event.epoch)
            if self.spec.prune != "none" and not active.prune_asked and active.run_dir and event.epoch < event.epochs:
                if active.trial.should_prune():
                    active.prune_asked = True
                    live.request_stop(active.run_dir, Status.PRUNED, f"pruned after epoch {event.epoch}")
                    self.log(f"trial #{active.number} pruned after epoch {event.epoch} (val {event.val_acc:.4f})")
        elif isinstance(event, (ev.RunFinished, ev.RunFailed)):
            del self.active[event.run_id]
            run_dir = Path(event.run_dir) if event.run_dir else active.run_dir
            waited = time.monotonic() - active.last_batch if active.last_batch else None
            if isinstance(event, ev.RunFailed):
                from mnist_tui.runfolder.record import Summary

                summary, status = Summary(status=Status.FAILED.value, reason=event.reason), Status.FAILED
            else:
                summary, status = event.summary, Status(event.status)
            _record_end(self.study, active.number, run_dir or Path(""), status, summary, waited)
            self.done += 1
            shown = f"test {summary.test_acc * 100:.2f}%" if summary.test_acc is not None else str(status)
            self.log(f"trial #{active.number} ended: {shown} ({run_dir.name if run_dir else 'no folder'})")

    def close(self) -> None:
        """Stop following: the runs it started keep training (detached); a later look records them."""
        self.service.close(stop_runs=False)


# ---------------------------------------------------------------- in the background


def log_path(runs_dir: Path | str, name: str) -> Path:
    return Path(runs_dir) / "experiments" / f"{name}.work.log"


def launch_detached_worker(
    name: str, runs_dir: Path | str, storage: str, jobs: int, data_dir: str | None = None
) -> tuple[int, Path]:
    """`mnist-tui experiment work NAME` in its own session (spawn, as on Windows), its output in a log
    file, so closing the terminal, the app or the SSH connection leaves it working. Returns (pid, log)."""
    import subprocess

    from mnist_tui.service.worker import DETACHED

    log = log_path(runs_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mnist_tui", "experiment", "work", name, "--jobs", str(jobs)]
    command += ["--runs-dir", str(runs_dir), "--storage", storage]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=sys.platform != "win32",
            creationflags=DETACHED,
        )
    return process.pid, log


def survive_hangup(log: Path) -> None:
    """When the terminal goes away (SIGHUP), keep working and write to `log` instead of the lost terminal."""
    if not hasattr(signal, "SIGHUP"):
        return

    def on_hangup(_signum, _frame):
        log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for target in (1, 2):
            os.dup2(fd, target)
        os.close(fd)

    signal.signal(signal.SIGHUP, on_hangup)
