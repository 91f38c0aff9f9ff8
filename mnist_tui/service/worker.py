"""TrainingService: starts training in detached processes and follows each run through its folder.

A child is a fresh interpreter (`python -m mnist_tui.service.worker RUN_DIR`), never a fork: spawn semantics,
the only ones Windows has. It runs in its own session (POSIX) or process group (Windows), so closing the
terminal or losing SSH does not reach it, and it reports only through its run folder (see `live.py`).
The service is one viewer of those folders among others: it queues runs, launches them, reads their
event logs, notices a child that died, and asks runs to stop. Quitting it can leave the runs training.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.common.fileio import load_json_object
from mnist_tui.engine.config import TrainConfig
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live, runs
from mnist_tui.runfolder.names import RUNNING_SUFFIX, create_run_dir, find_renamed, reopen, run_label, stem
from mnist_tui.runfolder.record import CONFIG, LOG, RESUME, RunError, Summary, read_summary, write_json
from mnist_tui.runfolder.status import RESUMABLE, Status

CANCEL_GRACE = 10.0  # seconds a stopped child gets to reach a batch boundary and save before it is killed
POLL = 0.1  # seconds between reads of the run folders
BELOW_NORMAL_PRIORITY_CLASS = 0x00004000  # Windows
DETACHED = (subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS) if sys.platform == "win32" else 0


# ---------------------------------------------------------------- child side


def lower_priority(nice: int) -> None:
    """Let the UI (and the user's other work) go first: a positive nice, or below-normal on Windows."""
    if nice <= 0:
        return
    try:
        if sys.platform == "win32":
            import ctypes

            kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel.SetPriorityClass(kernel.GetCurrentProcess(), BELOW_NORMAL_PRIORITY_CLASS)
        else:
            os.nice(nice)
    except (OSError, AttributeError):
        pass  # not allowed here: train at normal priority


def child_main(argv: list[str] | None = None) -> int:
    """Entry point of a detached training process: train the run in RUN_DIR (or resume it)."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tui.service.worker")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    lower_priority(args.nice)
    run_dir = Path(args.run_dir)
    stop = live.FolderStop(run_dir)
    if sys.platform != "win32":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal to lose: it belongs to no session's tty
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a viewer's terminal is the viewer's business

    def on_term(signum, _frame):
        stop.set(Status.INTERRUPTED.value, f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_term)
    from mnist_tui.training.train import fit, prepare_process

    code = 0
    try:
        config = TrainConfig.from_dict(load_json_object(run_dir / CONFIG))
        prepare_process(config)
        fit(config, None, stop, run_dir=run_dir, resume=args.resume)
    except BaseException as error:  # noqa: BLE001 - fit recorded what it could; the log keeps the rest
        import traceback

        traceback.print_exc()
        print(f"{type(error).__name__}: {error}", file=sys.stderr)  # the last line becomes the reason
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Every file is written and closed; skip interpreter teardown (torch's can take a second or more).
    os._exit(code)


def launch_detached(run_dir: Path, resume: bool = False, nice: int = 0) -> subprocess.Popen:
    """Start `python -m mnist_tui.service.worker RUN_DIR` in its own session, output to the folder's train.log."""
    command = [sys.executable, "-m", "mnist_tui.service.worker", str(run_dir), "--nice", str(nice)] + (
        ["--resume"] if resume else []
    )
    with open(Path(run_dir) / LOG, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=sys.platform != "win32",
            creationflags=DETACHED,
        )


# ---------------------------------------------------------------- parent side


@dataclass
class RunHandle:
    """What the service knows about one run."""

    run_id: str
    config: TrainConfig | None
    status: str = Status.QUEUED.value  # a Status value
    pid: int | None = None
    run_dir: str | None = None
    summary: Summary | None = None
    reason: str | None = None
    started_at: float | None = None
    cancel_requested_at: float | None = None
    process: subprocess.Popen | None = None  # None for a run this service attached to
    resume: bool = False
    offset: int = 0  # bytes of events.jsonl already read
    ended: bool = False  # a final event (finished, cancelled, interrupted, failed) was delivered

    @property
    def active(self) -> bool:
        return self.status in (Status.QUEUED, Status.RUNNING)


class TrainingService:
    """Start, follow, list and stop training runs. Events are the engine's dataclasses, read from the
    run folders; `next_event(timeout)` and `iter_events()` never block longer than asked."""

    def __init__(self, max_jobs: int | None = None, nice: int = 0):
        self.max_jobs = max(1, max_jobs or os.cpu_count() or 1)
        self.nice = nice
        self._runs: dict[str, RunHandle] = {}
        self._order: list[str] = []
        self._events: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._pump = threading.Thread(target=self._pump_loop, name="training-service", daemon=True)
        self._pump.start()

    # -------------------------------------------------- public API

    def start(self, config: TrainConfig) -> str:
        """Queue a run; it starts as soon as a job slot is free. Returns its run id."""
        config.validate()
        return self._add(RunHandle(f"run{next(self._ids)}-{run_label(config.model, config.augment)}", config))

    def resume(self, run_dir: Path | str) -> str:
        """Queue the continuation of a cancelled or interrupted run, in its own folder."""
        run_dir = Path(run_dir)
        info = runs.read_run(run_dir)
        if info is None or info.status not in RESUMABLE:
            status = info.status if info else "not a run"
            raise RunError(f"{run_dir.name} is {status}; only cancelled or interrupted runs can be resumed")
        if not (run_dir / RESUME).exists():
            raise RunError(f"{run_dir.name} has no resume state; it ended before its first epoch")
        config = TrainConfig.from_dict(load_json_object(run_dir / CONFIG))
        handle = RunHandle(
            f"run{next(self._ids)}-{run_label(config.model, config.augment)}",
            config,
            run_dir=str(run_dir),
            resume=True,
        )
        return self._add(handle)

    def live_dirs(self) -> list[str]:
        """The folders of the runs it starts or follows that have not ended."""
        with self._lock:
            return [h.run_dir for h in self._runs.values() if h.active and h.run_dir]

    def attach(self, run_dir: Path | str) -> str:
        """Follow a live run that another process started (its history so far arrives as events first)."""
        run_dir = Path(run_dir)
        with self._lock:
            for handle in self._runs.values():  # a live run it follows already (an ended one may be resumed)
                if handle.active and handle.run_dir and stem(handle.run_dir) == stem(run_dir):
                    return handle.run_id
        handle = RunHandle(
            stem(run_dir), None, status=Status.RUNNING.value, run_dir=str(run_dir), started_at=time.monotonic()
        )
        record = live.read_live(run_dir) or {}
        handle.pid = record.get("pid") if isinstance(record.get("pid"), int) else None
        return self._add(handle)

    def _add(self, handle: RunHandle) -> str:
        with self._lock:
            if handle.run_id not in self._runs:  # an ended run attached again keeps its place
                self._order.append(handle.run_id)
            self._runs[handle.run_id] = handle
        return handle.run_id

    def cancel(self, run_id: str) -> None:
        """Ask a run to stop after its current batch (keeping its checkpoint); a queued run never starts."""
        with self._lock:
            handle = self._runs[run_id]
            if handle.status == Status.QUEUED:
                handle.status, handle.ended = Status.CANCELLED.value, True
                self._events.put(
                    ev.RunFinished(
                        run_id, handle.run_dir or "", Status.CANCELLED.value, Summary(status=Status.CANCELLED.value)
                    )
                )
            elif handle.status == Status.RUNNING and handle.cancel_requested_at is None and handle.run_dir:
                handle.cancel_requested_at = time.monotonic()
                try:
                    live.request_stop(Path(handle.run_dir))
                except OSError as error:
                    self._fail(handle, f"could not ask the run to stop: {error}")

    def cancel_all(self) -> None:
        for run_id in list(self._order):
            if self._runs[run_id].active:
                self.cancel(run_id)

    def runs(self) -> list[RunHandle]:
        with self._lock:
            return [self._runs[r] for r in self._order]

    def get(self, run_id: str) -> RunHandle:
        return self._runs[run_id]

    def active(self) -> bool:
        with self._lock:
            return any(h.active for h in self._runs.values())

    def next_event(self, timeout: float | None = None):
        """The next event, or None after `timeout` seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def iter_events(self, until_idle: bool = True, timeout: float = 0.2):
        """Yield events; with `until_idle`, stop once every run has ended and its events are read."""
        while True:
            event = self.next_event(timeout)
            if event is not None:
                yield event
            elif until_idle and not self.active() and self._events.empty():
                return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every run has ended (events stay queued). False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self, stop_runs: bool = True, timeout: float = 3.0) -> None:
        """Stop following. With `stop_runs`, ask every run to stop first and give it `timeout` seconds
        to save; without, the runs keep training on their own and any viewer can attach to them later.
        Queued runs that never started are dropped either way."""
        with self._lock:
            for handle in self._runs.values():
                if handle.status == Status.QUEUED:
                    self.cancel(handle.run_id)
        if stop_runs:
            self.cancel_all()
            self.wait(timeout)
        self._closed.set()
        self._pump.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------- pump thread

    def _pump_loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the pump must outlive any one run's trouble
                pass
            self._closed.wait(POLL)

    def _tick(self) -> None:
        with self._lock:
            launched = [h for h in self._runs.values() if h.status == Status.RUNNING and h.process is not None]
            pending = [self._runs[r] for r in self._order if self._runs[r].status == Status.QUEUED]
            for handle in pending[: max(0, self.max_jobs - len(launched))]:
                try:
                    self._launch(handle)
                except Exception as error:  # noqa: BLE001 - a launch failure fails that run only
                    self._fail(handle, f"could not start the training process: {_one_line(error)}")
            running = [h for h in self._runs.values() if h.status == Status.RUNNING]
        for handle in running:
            try:
                self._follow(handle)
            except Exception as error:  # noqa: BLE001 - a run whose files fail is failed; the rest go on
                self._fail(handle, f"could not follow the run: {_one_line(error)}")

    def _launch(self, handle: RunHandle) -> None:
        config = handle.config
        if handle.resume:
            run_dir = reopen(Path(handle.run_dir))
        else:
            run_dir = create_run_dir(config.runs_dir, config.model, config.augment)
        handle.run_dir = str(run_dir)
        if not handle.resume:
            write_json(run_dir / CONFIG, config.to_dict())
        else:  # replay its history so far, without the end of its previous life
            past, handle.offset = live.read_events(run_dir, 0)
            for event in past:
                if not isinstance(event, (ev.RunFinished, ev.RunFailed)):
                    self._deliver(handle, dataclasses.replace(event, run_id=handle.run_id))
        process = launch_detached(run_dir, handle.resume, self.nice)
        live.write_live(run_dir, live.live_record(process.pid, handle.run_id))
        handle.process, handle.pid = process, process.pid
        handle.status, handle.started_at = Status.RUNNING.value, time.monotonic()

    def _read(self, handle: RunHandle) -> None:
        path = Path(handle.run_dir)
        if not path.exists():
            moved = find_renamed(path.parent, stem(path))
            if moved is None:
                return
            handle.run_dir = str(path := moved)
        first = handle.offset == 0
        found, handle.offset = live.read_events(path, handle.offset)
        for event in live.without_past_ends(found) if first else found:
            self._deliver(handle, dataclasses.replace(event, run_id=handle.run_id))
            if handle.ended:
                break

    def _follow(self, handle: RunHandle) -> None:
        self._read(handle)
        if handle.ended:
            return
        if handle.process is not None:
            code = handle.process.poll()
            if code is None:
                if handle.cancel_requested_at and time.monotonic() - handle.cancel_requested_at > CANCEL_GRACE:
                    handle.process.kill()  # it did not reach a batch boundary in time
                return
            self._read(handle)  # the last lines it wrote before exiting
            if not handle.ended:
                self._died(handle, code)
        elif not handle.run_dir.endswith(RUNNING_SUFFIX):  # it ended, and its log has no end: a reader
            self._ended_without_event(handle)  # marked it (or it was attached after it ended): read, never write
        else:
            gone = live.writer_gone(Path(handle.run_dir))
            if gone:
                self._read(handle)
                if not handle.ended:
                    self._end(handle, Status.INTERRUPTED, gone)

    def _ended_without_event(self, handle: RunHandle) -> None:
        """Deliver the end that the folder's summary records, leaving the folder as it is."""
        try:
            summary = read_summary(Path(handle.run_dir))
        except (OSError, ValueError):
            summary = None
        summary = summary or Summary(reason="it ended without a summary")
        if summary.status == Status.RUNNING.value:  # as every listing reads a stopped folder's stale summary
            summary.status = Status.INTERRUPTED.value
        if summary.status == Status.FAILED.value:
            self._deliver(handle, ev.RunFailed(handle.run_id, handle.run_dir, summary.reason or Status.FAILED.value))
        else:
            self._deliver(handle, ev.RunFinished(handle.run_id, handle.run_dir, summary.status, summary))

    def _died(self, handle: RunHandle, code: int) -> None:
        """A child exited without logging its end: killed by a signal (resumable) or crashed."""
        tail = _log_tail(Path(handle.run_dir) / LOG)
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            reason = f"training process was killed ({name})" + (" - out of memory?" if name == "SIGKILL" else "")
            if handle.cancel_requested_at:
                reason = "cancelled, and the process did not stop in time; " + reason
            self._end(handle, Status.INTERRUPTED, reason)
        else:
            reason = f"training process exited with code {code}" + (f": {tail}" if tail else "")
            self._end(handle, Status.FAILED, reason)

    def _end(self, handle: RunHandle, status: Status, reason: str) -> None:
        try:
            handle.run_dir = str(runs.mark_ended(handle.run_dir, status, reason))
            summary = read_summary(Path(handle.run_dir)) or Summary()
        except (OSError, ValueError) as error:
            reason += f" (and the run folder could not be updated: {_one_line(error)})"
            summary = Summary(status=status.value, reason=reason)
        if status == Status.FAILED:
            self._deliver(handle, ev.RunFailed(handle.run_id, handle.run_dir or "", reason))
        else:
            self._deliver(handle, ev.RunFinished(handle.run_id, handle.run_dir or "", status.value, summary))

    def _deliver(self, handle: RunHandle, event) -> None:
        if isinstance(event, ev.RunStarted):
            handle.run_dir = event.run_dir or handle.run_dir
        elif isinstance(event, ev.RunFinished):
            handle.status, handle.summary, handle.ended = event.status, event.summary, True
            handle.run_dir = event.run_dir or handle.run_dir
            handle.reason = event.summary.reason
        elif isinstance(event, ev.RunFailed):
            handle.status, handle.reason, handle.ended = Status.FAILED.value, event.reason, True
            handle.run_dir = event.run_dir or handle.run_dir
        if handle.ended and handle.status != Status.FAILED and handle.run_dir:
            log = Path(handle.run_dir) / LOG
            try:
                if handle.process is not None:
                    log.unlink(missing_ok=True)  # a clean run needs no crash log
            except OSError:
                pass
        self._events.put(event)

    def _fail(self, handle: RunHandle, reason: str) -> None:
        if handle.ended:
            return
        if handle.run_dir and Path(handle.run_dir).exists():
            self._end(handle, Status.FAILED, reason)
        else:
            handle.status, handle.reason = Status.FAILED.value, reason
            self._deliver(handle, ev.RunFailed(handle.run_id, handle.run_dir or "", reason))


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text.splitlines()[0][:300]


def _log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


if __name__ == "__main__":
    child_main()
