"""TrainingService: runs `fit` in spawn processes, streams their events, cancels them and survives crashes."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from . import events as ev
from .config import TrainConfig

# spawn: the only start method on Windows; we use it everywhere so that path is the one we test.
CONTEXT = multiprocessing.get_context("spawn")
PROGRESS_INTERVAL = 0.1  # seconds between batch-progress events per run (about 10 Hz)
CANCEL_GRACE = 1.8  # seconds a cancelled child gets to finish its batch before it is killed


# ---------------------------------------------------------------- child side


def _child_main(config_dict: dict, run_id: str, conn, stop, log_path: str) -> None:
    """Entry point of a training process. Its stdout/stderr go to a log file, never to the terminal."""
    _silence(log_path)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the UI's terminal is the parent's business
    from .train import fit

    def report(event) -> None:
        try:
            conn.send(event)
        except (BrokenPipeError, OSError):
            pass  # the parent went away; keep training so the run folder is completed

    code = 0
    try:
        fit(TrainConfig.from_dict(config_dict), report, stop, run_id=run_id)
    except BaseException:  # noqa: BLE001 - fit already reported RunFailed and marked the folder
        traceback.print_exc()
        code = 1
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Every file is written and closed; skip interpreter teardown (torch's can take a second or more).
    os._exit(code)


def _silence(log_path: str) -> None:
    """Point fds 1 and 2 at a log file so nothing the child prints lands under a TUI."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


# ---------------------------------------------------------------- parent side


@contextmanager
def real_std_streams():
    """Textual swaps sys.stdout/stderr for objects without a file descriptor; spawn (through the
    resource tracker) passes `sys.stderr.fileno()` to the child and fails with "bad value(s) in
    fds_to_keep" (Textual #3593). Put the real streams back just while a process starts."""
    saved = sys.stdout, sys.stderr
    devnull = None
    try:
        real_out, real_err = sys.__stdout__, sys.__stderr__
        if real_out is None or real_err is None:  # pythonw / detached: give spawn a real fd anyway
            devnull = open(os.devnull, "w")
        sys.stdout = real_out or devnull
        sys.stderr = real_err or devnull
        yield
    finally:
        sys.stdout, sys.stderr = saved
        if devnull:
            devnull.close()


@dataclass
class RunHandle:
    """What the service knows about one run."""

    run_id: str
    config: TrainConfig
    status: str = "pending"  # pending | running | finished | cancelled | failed
    pid: int | None = None
    run_dir: str | None = None
    summary: dict = field(default_factory=dict)
    reason: str | None = None
    log_path: str | None = None
    started_at: float | None = None
    cancel_requested_at: float | None = None
    process: object = None
    conn: object = None
    stop: object = None
    last_progress: float = 0.0
    ended: bool = False  # a final event (finished, cancelled, failed) was delivered
    reaped: bool = False  # the process has exited and was joined

    @property
    def active(self) -> bool:
        return self.status in ("pending", "running")


class TrainingService:
    """Start, list and cancel training runs in spawn processes, and read their events.

    Events are the engine's dataclasses. `next_event(timeout)` and `iter_events()` never block the
    caller longer than asked, so a UI thread worker can drain them.
    """

    def __init__(self, max_jobs: int | None = None, log_dir: str | Path | None = None):
        self.max_jobs = max(1, max_jobs or os.cpu_count() or 1)
        self._log_dir = Path(log_dir) if log_dir else None
        self._runs: dict[str, RunHandle] = {}
        self._order: list[str] = []
        self._events: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._wake_r, self._wake_w = CONTEXT.Pipe(duplex=False)
        self._pump = threading.Thread(target=self._pump_loop, name="training-service", daemon=True)
        self._pump.start()

    # -------------------------------------------------- public API

    def start(self, config: TrainConfig) -> str:
        """Queue a run; it starts as soon as a job slot is free. Returns its run id."""
        config.validate()
        with self._lock:
            run_id = f"run{next(self._ids)}-{config.model}{'-aug' if config.augment else ''}"
            self._runs[run_id] = RunHandle(run_id, config)
            self._order.append(run_id)
        self._wake()
        return run_id

    def cancel(self, run_id: str) -> None:
        with self._lock:
            handle = self._runs[run_id]
            if handle.status == "pending":
                handle.status = "cancelled"
                handle.ended = True
                self._events.put(ev.RunFinished(run_id, "", "cancelled", {"status": "cancelled", "epochs_run": 0}))
            elif handle.status == "running" and handle.cancel_requested_at is None:
                handle.cancel_requested_at = time.monotonic()
                handle.stop.set()
        self._wake()

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

    def close(self, timeout: float = 3.0) -> None:
        """Cancel everything, give children a moment to save, then kill what is left."""
        self.cancel_all()
        self.wait(timeout)
        with self._lock:
            for handle in self._runs.values():
                if handle.process is not None and handle.process.is_alive():
                    handle.process.kill()
        self._closed.set()
        self._wake()
        self._pump.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------- pump thread

    def _wake(self) -> None:
        try:
            self._wake_w.send(None)
        except OSError:
            pass

    def _launch(self, handle: RunHandle) -> None:
        log_dir = self._log_dir or Path(handle.config.runs_dir) / ".logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        handle.log_path = str(log_dir / f"{handle.run_id}-{os.getpid()}.log")
        # Creating the Event may start multiprocessing's resource tracker, which hits the same fd trap.
        with real_std_streams():
            reader, writer = CONTEXT.Pipe(duplex=False)
            handle.stop = CONTEXT.Event()
            process = CONTEXT.Process(
                target=_child_main,
                args=(handle.config.to_dict(), handle.run_id, writer, handle.stop, handle.log_path),
                name=f"mnist-tui {handle.run_id}",
                daemon=True,
            )
            process.start()
        writer.close()  # the child holds the only write end, so EOF means the child is gone
        handle.process, handle.conn, handle.pid = process, reader, process.pid
        handle.status, handle.started_at = "running", time.monotonic()

    def _pump_loop(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                running = [h for h in self._runs.values() if h.status == "running"]
                pending = [self._runs[r] for r in self._order if self._runs[r].status == "pending"]
                for handle in pending[: max(0, self.max_jobs - len(running))]:
                    try:
                        self._launch(handle)
                    except Exception as error:  # noqa: BLE001 - a launch failure fails that run only
                        self._fail(handle, f"could not start the training process: {error}")
                running = [h for h in self._runs.values() if h.process is not None and not h.reaped]
            waitables = [self._wake_r] + [h.conn for h in running] + [h.process.sentinel for h in running]
            for ready in wait(waitables, timeout=0.5):
                if ready is self._wake_r:
                    while self._wake_r.poll():
                        self._wake_r.recv()
            for handle in running:
                self._drain(handle)
                if not handle.process.is_alive():
                    handle.process.join(timeout=0.1)
                    self._drain(handle)
                    self._reap(handle)
                elif not handle.ended and handle.cancel_requested_at and time.monotonic() - handle.cancel_requested_at > CANCEL_GRACE:
                    handle.process.kill()  # it did not reach a batch boundary in time

    def _drain(self, handle: RunHandle) -> None:
        try:
            while handle.conn.poll():
                self._deliver(handle, handle.conn.recv())
        except (EOFError, OSError):
            pass

    def _deliver(self, handle: RunHandle, event) -> None:
        if isinstance(event, ev.BatchProgress):
            now = time.monotonic()
            if now - handle.last_progress < PROGRESS_INTERVAL and event.batch != event.batches:
                return
            handle.last_progress = now
        elif isinstance(event, ev.RunStarted):
            handle.run_dir = event.run_dir
        elif isinstance(event, ev.RunFinished):
            handle.status, handle.run_dir, handle.summary, handle.ended = event.status, event.run_dir, event.summary, True
        elif isinstance(event, ev.RunFailed):
            handle.status, handle.run_dir, handle.reason, handle.ended = "failed", event.run_dir, event.reason, True
        self._events.put(event)

    def _reap(self, handle: RunHandle) -> None:
        handle.reaped = True
        handle.conn.close()
        if handle.ended:
            if handle.status != "failed" and handle.log_path:
                Path(handle.log_path).unlink(missing_ok=True)  # a clean run needs no crash log
            return
        code = handle.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            reason = f"training process was killed ({name})" + (" - out of memory?" if name == "SIGKILL" else "")
        else:
            reason = f"training process exited with code {code}"
        tail = _log_tail(handle.log_path)
        if tail:
            reason += f": {tail}"
        if handle.cancel_requested_at:
            reason = "cancelled, and the process did not stop in time; " + reason
        self._fail(handle, reason)

    def _fail(self, handle: RunHandle, reason: str) -> None:
        run_dir = mark_failed(handle.run_dir, reason) if handle.run_dir else None
        handle.status, handle.reason, handle.ended = "failed", reason, True
        handle.run_dir = str(run_dir) if run_dir else handle.run_dir
        self._events.put(ev.RunFailed(handle.run_id, handle.run_dir or "", reason))


def _log_tail(path: str | None) -> str:
    try:
        lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except (OSError, TypeError):
        return ""
    return lines[-1][:200] if lines else ""


def mark_failed(run_dir: str | Path, reason: str) -> Path:
    """Record a run whose process died: summary status failed, folder renamed, stray temp files removed.

    Complete files (config, metrics, an atomically written best.pt) are kept.
    """
    from . import runs

    path = Path(run_dir)
    if not path.exists():
        return path
    for temp in path.glob(".*.tmp"):
        temp.unlink(missing_ok=True)  # half-written files from a write the kill interrupted
    summary = runs.read_json(path / "summary.json")
    if summary.get("status") in ("finished", "cancelled"):
        return path
    config = runs.read_json(path / "config.json")
    metrics = runs.read_metrics(path)
    summary.update({
        "model": config.get("model"), "augment": config.get("augment"), "epochs_run": len(metrics),
        "status": "failed", "reason": reason, "test_acc": None,
    })
    runs.write_json(path / "summary.json", summary)
    return runs.finalize(path, "failed", None)
