"""A run folder while it trains: the event log, the heartbeat, the stop request, and the readers that follow them.

The trainer is the only writer of its folder; every viewer (the app, `mnist-tui runs`, `watch`, the
service that launched it) reads the same files, so none of them owns a run's state.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from mnist_tui.common.fileio import write_atomic
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder.record import Summary
from mnist_tui.runfolder.status import Status

EVENTS = "events.jsonl"  # append-only: run start, throttled batch progress, epoch ends, the end
LIVE = "live.json"  # pid, host, start time and heartbeat of the process that writes the folder
STOP = "stop"  # present: the run is asked to stop after its current batch (any viewer may create it)
HEARTBEAT_INTERVAL = 2.0  # seconds between heartbeats
STALE_AFTER = 60.0  # seconds without a heartbeat after which a writer we cannot check by pid counts as gone
START_GRACE = 60.0  # seconds a new folder may have no live.json yet (the child is still importing torch)
MAX_LINE = 64 * 1024  # longest event line a reader accepts; longer ones are skipped

_EVENT_TYPES = {
    cls.__name__: cls for cls in (ev.RunStarted, ev.BatchProgress, ev.EpochCompleted, ev.RunFinished, ev.RunFailed)
}


# ---------------------------------------------------------------- events as lines


def event_to_line(event) -> str:
    return json.dumps({"type": type(event).__name__, "time": round(time.time(), 3), **dataclasses.asdict(event)}) + "\n"


def event_from_line(line: str):
    """The event on one log line, or None for a line that is not one (a torn or foreign line)."""
    try:
        payload = json.loads(line)
        cls = _EVENT_TYPES[payload.pop("type")]
        payload.pop("time", None)
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in payload.items() if k in names}
        if cls is ev.RunFinished:
            values["summary"] = Summary.from_dict(
                values.get("summary") if isinstance(values.get("summary"), dict) else {}
            )
        return cls(**values)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def read_events(run_dir: Path, offset: int = 0) -> tuple[list, int]:
    """Complete event lines from byte `offset` on; returns them and the offset after the last complete line."""
    try:
        with open(Path(run_dir) / EVENTS, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next read
    found = []
    for raw in chunk[:end].splitlines():
        if raw and len(raw) <= MAX_LINE:
            event = event_from_line(raw.decode("utf-8", "replace"))
            if event is not None:
                found.append(event)
    return found, offset + end


def without_past_ends(events: list) -> list:
    """A resumed run's log holds the ends of its earlier lives; drop every end that a later start follows."""
    last_start = max((i for i, e in enumerate(events) if isinstance(e, ev.RunStarted)), default=-1)
    return [e for i, e in enumerate(events) if i >= last_start or not isinstance(e, (ev.RunFinished, ev.RunFailed))]


def last_events(run_dir: Path, tail_bytes: int = 16 * 1024) -> list:
    """The events in the last `tail_bytes` of the log: enough for a listing's epoch and batch."""
    path = Path(run_dir) / EVENTS
    try:
        size = path.stat().st_size
    except OSError:
        return []
    start = max(0, size - tail_bytes)
    events, _ = read_events(run_dir, start)
    return without_past_ends(events)


# ---------------------------------------------------------------- the writer's side


class RunFolderDeleted(RuntimeError):
    """The run's folder was deleted under it: it has nowhere to record, and nothing can stop it."""


class EventLog:
    """Appends events to `events.jsonl`. Batch progress is throttled to about 1 Hz at first, then more
    sparsely as the run gets older (at most one line per elapsed/600 s), so a 10-hour run logs about
    3,000 progress lines: the file stays small however long a run trains."""

    def __init__(self, run_dir: Path, interval: float = 1.0):
        self.path = Path(run_dir) / EVENTS
        self.interval = interval
        self.started = time.monotonic()
        self._last_progress = -1e9

    def move(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EVENTS

    def __call__(self, event) -> None:
        if isinstance(event, ev.BatchProgress) and event.batch != event.batches:
            now = time.monotonic()
            if now - self._last_progress < max(self.interval, (now - self.started) / 600):
                return
            self._last_progress = now
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(event_to_line(event))
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise RunFolderDeleted(f"{self.path.parent} was deleted while the run trained") from None
            raise


def live_record(pid: int | None = None, run_id: str = "") -> dict:
    now = time.time()
    return {"pid": pid or os.getpid(), "host": socket.gethostname(), "started": now, "heartbeat": now, "run_id": run_id}


def write_live(run_dir: Path, record: dict) -> None:
    write_atomic(Path(run_dir) / LIVE, (json.dumps(record) + "\n").encode(), parents=False)


class Heartbeat:
    """Writes live.json at start and refreshes its heartbeat every few seconds from a daemon thread.

    `move(run_dir)` follows the folder when it is renamed; `stop()` ends the thread."""

    def __init__(self, run_dir: Path, run_id: str = "", interval: float = HEARTBEAT_INTERVAL):
        self.run_dir = Path(run_dir)
        self.record = live_record(run_id=run_id)
        self.interval = interval
        self._done = threading.Event()
        self._lock = threading.Lock()
        write_live(self.run_dir, self.record)
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._done.wait(self.interval):
            with self._lock:
                self.record["heartbeat"] = time.time()
                try:
                    write_live(self.run_dir, self.record)
                except OSError:
                    pass  # a full disk or a moved folder: the next beat tries again

    def move(self, run_dir: Path) -> None:
        with self._lock:
            self.run_dir = Path(run_dir)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=self.interval + 1)


def request_stop(run_dir: Path, status: Status = Status.CANCELLED, reason: str = "") -> None:
    """Ask a live run to stop after its current batch, keeping its checkpoint (works on every OS). It ends
    `cancelled`, or `pruned` when an experiment's search asks it to."""
    payload = json.dumps({"status": str(status), "reason": reason}) + "\n"
    write_atomic(Path(run_dir) / STOP, payload.encode(), parents=False)


def _stop_request(path: Path) -> tuple[Status, str]:
    """What a stop file asks for; an older or foreign file (`stop`) means cancelled."""
    try:
        payload = json.loads(path.read_text()[:4096])
        status = Status(payload.get("status"))
        if status in (Status.CANCELLED, Status.PRUNED):
            return status, str(payload.get("reason") or "")
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return Status.CANCELLED, ""


class FolderStop:
    """A stop flag that is set by `stop` (a threading/multiprocessing Event or None) or by the folder's stop file.

    The file is checked at most every `every` seconds. `status` says how the run should be recorded
    when it stops: `cancelled` by default, `interrupted` after a signal."""

    def __init__(self, run_dir: Path | None = None, stop=None, every: float = 0.25):
        self.run_dir = Path(run_dir) if run_dir else None
        self.stop = stop
        self.every = every
        self.status = Status.CANCELLED
        self.reason = ""
        self._checked = 0.0
        self._file = False

    def set(self, status: Status = Status.CANCELLED, reason: str = "") -> None:
        self.status, self.reason, self._file = status, reason, True

    def is_set(self) -> bool:
        if self._file or (self.stop is not None and self.stop.is_set()):
            return True
        now = time.monotonic()
        if self.run_dir is not None and now - self._checked >= self.every:
            self._checked = now
            self._file = (self.run_dir / STOP).exists()
            if self._file:
                self.status, self.reason = _stop_request(self.run_dir / STOP)
        return self._file


# ---------------------------------------------------------------- liveness, for readers


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (and, on Linux, is not a zombie)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = kernel.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel.CloseHandle(handle)
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_live(run_dir: Path) -> dict | None:
    try:
        raw = (Path(run_dir) / LIVE).read_bytes()[:4096]
        record = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def writer_gone(run_dir: Path, now: float | None = None) -> str | None:
    """None while the folder's writer looks alive; otherwise one line saying why it is judged gone.

    On this host the pid decides (a live pid keeps the run alive whatever its heartbeat). A writer on
    another host (a shared file system) is gone when its heartbeat is older than STALE_AFTER."""
    now = time.time() if now is None else now
    record = read_live(run_dir)
    if record is None:
        try:
            age = now - Path(run_dir).stat().st_mtime
        except OSError:
            return "the run folder disappeared"
        return None if age < START_GRACE else "the training process never started (no live.json)"
    beat = record.get("heartbeat")
    beat = beat if isinstance(beat, (int, float)) else 0.0
    pid = record.get("pid")
    if record.get("host") == socket.gethostname() and isinstance(pid, int):
        if pid_alive(pid):
            return None
        return f"the training process (pid {pid}) is gone; last heartbeat {_ago(now - beat)}"
    if now - beat <= STALE_AFTER:
        return None
    return f"no heartbeat from {record.get('host', '?')} for {_ago(now - beat)}"


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"
