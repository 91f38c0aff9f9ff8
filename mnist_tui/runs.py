"""Run folders: timestamped names, atomic files, self-describing checkpoints, and listing."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .fileio import fsync_dir, load_json_object, read_json, write_atomic

RUNNING_SUFFIX = "_running"
CONFIG = "config.json"
SUMMARY = "summary.json"
METRICS = "metrics.csv"
CONFUSION = "confusion.json"
CHECKPOINT = "best.pt"  # the kept weights (best validation loss, or the last epoch's)
RESUME = "resume.pt"  # everything needed to continue after the last completed epoch
LOG = "train.log"  # stdout/stderr of a training process the worker started; removed after a clean run
DEFAULT_MARK = "DEFAULT"  # a file in runs/ naming the run marked as default for predictions
METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
MAX_METRICS_BYTES = 8 * 1024 * 1024


class Status(str, Enum):
    """Where a run is. The folder's suffix and summary.json's `status` use these words."""

    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"  # stopped on request; its checkpoint is kept and it can be resumed
    INTERRUPTED = "interrupted"  # its process went away (a signal, a kill, a crash of the machine); resumable
    FAILED = "failed"
    UNREADABLE = "unreadable"  # a folder whose files cannot be read; shown, never used

    def __str__(self) -> str:
        return self.value


ENDED = (Status.FINISHED, Status.CANCELLED, Status.INTERRUPTED, Status.FAILED)
SUCCESS = (Status.FINISHED, Status.CANCELLED)  # ended as asked: a command that ran it exits 0
WITH_WEIGHTS = (Status.FINISHED, Status.CANCELLED, Status.INTERRUPTED)  # may hold a usable best.pt
RESUMABLE = (Status.CANCELLED, Status.INTERRUPTED)


@dataclass
class Summary:
    """summary.json: what a run did. Unknown keys in an older or newer file are ignored."""

    status: str = Status.RUNNING.value
    model: str = "?"
    augment: bool = False
    params: int | None = None
    epochs: int | None = None  # planned
    epochs_run: int = 0
    best_epoch: int | None = None  # the epoch whose weights were kept and tested
    kept: str = "best"
    val_acc: float | None = None
    test_acc: float | None = None
    train_seconds: float | None = None
    stopped_early: bool = False
    preset: str | None = None
    ema_decay: float | None = None  # say so when the tested weights are an EMA
    tta: bool = False  # ... or the test score averages shifted copies
    reason: str | None = None  # why it failed or was interrupted
    traceback: str | None = None
    resumed: int = 0  # times the run was resumed

    @classmethod
    def from_dict(cls, values: dict) -> Summary:
        out = cls()
        for f in dataclasses.fields(cls):
            if f.name in values:
                value = values[f.name]
                if f.name in ("val_acc", "test_acc", "train_seconds", "ema_decay"):
                    value = (
                        value
                        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                        else None
                    )
                elif f.name in ("params", "epochs", "best_epoch"):
                    value = value if isinstance(value, int) and not isinstance(value, bool) else None
                elif f.name in ("epochs_run", "resumed"):
                    value = value if isinstance(value, int) and not isinstance(value, bool) else 0
                elif f.name in ("augment", "stopped_early", "tta"):
                    value = bool(value)
                elif f.name == "status":
                    value = (
                        value if isinstance(value, str) and value in {s.value for s in Status} else Status.FAILED.value
                    )
                else:
                    value = value if value is None or isinstance(value, str) else str(value)
                setattr(out, f.name, value)
        return out

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Status) else v) for k, v in dataclasses.asdict(self).items()}


def read_summary(run_dir: Path) -> Summary | None:
    """The run's summary.json, or None when it has none yet; ValueError with a reason when it is bad."""
    try:
        return Summary.from_dict(load_json_object(Path(run_dir) / SUMMARY))
    except FileNotFoundError:
        return None


def write_summary(run_dir: Path, summary: Summary) -> None:
    write_json(Path(run_dir) / SUMMARY, summary.to_dict())


class RunError(Exception):
    """A missing or unreadable run; the message is one clear line."""


def run_label(model: str, augment: bool) -> str:
    return f"{model}-aug" if augment else model


def create_run_dir(runs_dir: Path | str, model: str, augment: bool) -> Path:
    """`<runs>/<YYYYmmdd-HHMMSS>_<model>[-aug][-N]_running`, never reusing an existing folder.

    The Nth run started within one second, whatever its model, gets `-N`, so names sort by start."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot use {runs_dir.resolve()} as the runs dir: {error.strerror or error}") from None
    if not os.access(runs_dir, os.W_OK):
        raise RunError(f"cannot write to the runs dir {runs_dir.resolve()}; choose another with --runs-dir")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}_{run_label(model, augment)}"
    existing = [p.name for p in runs_dir.iterdir()]
    started = sum(n.startswith(stamp + "_") for n in existing)  # runs already started in this second
    for attempt in range(started, started + 1000):
        name = base if attempt == 0 else f"{base}-{attempt + 1}"
        path = runs_dir / f"{name}{RUNNING_SUFFIX}"
        if any(n.startswith(name + "_") for n in existing):  # after a deletion the count can fall on a used name
            continue
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"could not create a new run folder in {runs_dir}")


def final_name(run_dir: Path, status: str, test_acc: float | None) -> Path:
    """The folder name once a run ends: `_acc99.41`, or `_cancelled`/`_failed` without a test score."""
    stem = run_dir.name.removesuffix(RUNNING_SUFFIX)
    if status in SUCCESS and test_acc is not None:
        suffix = f"_acc{test_acc * 100:.2f}"
    else:
        suffix = f"_{status}"
    target = run_dir.with_name(stem + suffix)
    n = 2
    while target.exists():
        target = run_dir.with_name(f"{stem}{suffix}-{n}")
        n += 1
    return target


def finalize(run_dir: Path, status: str, test_acc: float | None) -> Path:
    """Rename `..._running` to its final name; a folder another reader already renamed is left alone."""
    run_dir = Path(run_dir)
    if not run_dir.name.endswith(RUNNING_SUFFIX):
        return run_dir
    return move(run_dir, final_name(run_dir, status, test_acc))


def move(run_dir: Path, target: Path) -> Path:
    """Rename a run folder durably; rename, not replace: never over an existing folder."""
    os.rename(run_dir, target)
    fsync_dir(run_dir.parent)
    return target


def reopen(run_dir: Path) -> Path:
    """Rename an ended run back to `..._running` so it can be resumed in the same folder."""
    run_dir = Path(run_dir)
    if run_dir.name.endswith(RUNNING_SUFFIX):
        return run_dir
    if not _STAMP.match(run_dir.name):
        raise RunError(f"{run_dir.name} is not a run folder")
    from .live import live_record, write_live

    # The old live.json names the dead process of the run's last life: a viewer reading the reopened folder
    # before the new trainer's heartbeat starts would mark it interrupted again. Until then, this process
    # (the trainer itself, or the service that launches it) is its writer.
    try:
        write_live(run_dir, live_record())
        return move(run_dir, run_dir.with_name(stem(run_dir) + RUNNING_SUFFIX))
    except (FileNotFoundError, FileExistsError):  # another process reopened it a moment before
        raise RunError(f"{run_dir.name} is already being resumed (it was renamed a moment ago)") from None


def stem(run_dir: Path | str) -> str:
    """The folder name without its status suffix: `20260101-120000_3-layer`."""
    name = Path(run_dir).name
    return name.rsplit("_", 1)[0] if name.count("_") >= 2 else name


def find_renamed(runs_dir: Path, run_stem: str) -> Path | None:
    """Where a run folder went after a rename (its stem stays; only the suffix changes)."""
    try:
        for path in Path(runs_dir).iterdir():
            if path.name.startswith(run_stem + "_") and path.name.count("_") == run_stem.count("_") + 1:
                return path
    except OSError:
        return None
    return None


def write_json(path: Path, payload, *, parents: bool = True) -> None:
    write_atomic(path, (json.dumps(payload, indent=2) + "\n").encode(), parents=parents)


def write_metrics(run_dir: Path, rows: list[dict], *, parents: bool = True) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(run_dir / METRICS, buffer.getvalue().encode(), parents=parents)


def read_metrics(run_dir: Path, strict: bool = False) -> list[dict]:
    """metrics.csv as rows of numbers. A short or garbled row is skipped (strict: ValueError instead)."""
    path = Path(run_dir) / METRICS
    try:
        if path.stat().st_size > MAX_METRICS_BYTES:
            raise ValueError(f"{METRICS} is {path.stat().st_size:,} bytes, more than a run file can be")
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    except OSError as error:
        if strict:
            raise ValueError(f"{METRICS} cannot be read ({error.strerror or error})") from None
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if k in METRIC_FIELDS})
        except (TypeError, ValueError):
            if strict:
                raise ValueError(f"{METRICS} has a malformed row") from None
    return rows


def save_checkpoint(
    path: Path,
    model_name: str,
    model_args: dict,
    state_dict: dict,
    config: dict,
    metrics: dict,
    normalization: tuple[float, float],
    *,
    parents: bool = True,
) -> None:
    """A self-describing checkpoint, written atomically so a loader never sees half of one."""
    import torch

    payload = {
        "model_name": model_name,
        "model_args": {k: list(v) if isinstance(v, tuple) else v for k, v in model_args.items()},
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "normalization": {"mean": normalization[0], "std": normalization[1]},
        "config": config,
        "metrics": metrics,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(Path(path), buffer.getvalue(), parents=parents)


def load_checkpoint(path: Path | str, device: str = "cpu"):
    """Rebuild the model from the registry and load its weights. Returns (model, checkpoint dict)."""
    import torch

    from .models import check_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise RunError(f"no checkpoint at {path}")
    try:
        import warnings

        with warnings.catch_warnings():  # torch's hint about the pickle protocol would print before our one line
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is one message for the user
        raise RunError(f"{path} is not a readable checkpoint ({type(error).__name__})") from None
    try:
        spec, args = check_checkpoint(checkpoint)
    except (ValueError, KeyError) as error:  # KeyError: UnknownModel
        raise RunError(f"{path} is not a usable checkpoint: {error}") from None
    model = spec.build(**args)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise RunError(
            f"{path}: the weights do not match the {checkpoint['model_name']} architecture ({first})"
        ) from None
    model.to(device).eval()
    return model, checkpoint


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    started: str  # YYYY-mm-dd HH:MM:SS from the folder name
    model: str
    augment: bool
    status: str  # a Status value
    epochs_run: int
    test_acc: float | None
    val_acc: float | None
    params: int | None
    train_seconds: float | None
    epochs: int | None = None  # planned
    reason: str = ""  # why it failed, was interrupted, or cannot be read
    train_images: int | None = None  # a subset when smaller than the full training split
    progress: tuple[int, int, int, int] | None = None  # live runs: (epoch, epochs, batch, batches)

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists()

    @property
    def usable(self) -> bool:
        """Has weights that can be tested, predicted with or inspected."""
        return self.status in WITH_WEIGHTS and self.has_checkpoint


_STAMP = re.compile(r"^(\d{8})-(\d{6})_(.+)$")
_SEQUENCE = re.compile(r"-(\d+)$")  # `create_run_dir`'s counter for a second folder in the same second


def _age_key(name: str) -> tuple[str, int, str]:
    """Start time, then the same-second counter (`3-layer-2` came after `3-layer`); the name breaks ties."""
    match = _STAMP.match(name)
    if not match:
        return ("", 0, name)
    day, clock, rest = match.groups()
    counter = _SEQUENCE.search(rest.split("_", 1)[0])  # model labels hold no underscore
    return (day + clock, int(counter.group(1)) if counter else 1, name)


def _label(name: str) -> tuple[str, bool]:
    rest = _STAMP.match(name).group(3).split("_", 1)[0]
    rest = _SEQUENCE.sub("", rest)
    return (rest.removesuffix("-aug"), rest.endswith("-aug"))


def read_run(path: Path, check_live: bool = True) -> RunInfo | None:
    """One run folder as a RunInfo; None for anything that is not a run folder.

    A folder whose files cannot be read becomes an `unreadable` RunInfo with the reason, so one bad
    folder never hides the others. A `_running` folder whose writer is gone is marked interrupted here
    (renamed, with the reason in its summary), so every viewer sees the same truth."""
    path = Path(path)
    match = _STAMP.match(path.name)
    if not match or not path.is_dir():
        return None
    day, clock, _ = match.groups()
    started = f"{day[:4]}-{day[4:6]}-{day[6:]} {clock[:2]}:{clock[2:4]}:{clock[4:]}"
    running = path.name.endswith(RUNNING_SUFFIX)
    if running and check_live:
        from .live import writer_gone

        gone = writer_gone(path)
        if gone:
            try:
                return read_run(mark_ended(path, Status.INTERRUPTED, gone), check_live=False)
            except OSError:
                pass  # a read-only runs dir: show it as interrupted without renaming it
    try:
        summary = read_summary(path)
        try:
            config = load_json_object(path / CONFIG)
        except FileNotFoundError:
            config = {}
        metrics = read_metrics(path) if summary is None or running else []  # a resumed run's summary is its last life's
    except (OSError, ValueError) as error:
        model, augment = _label(path.name)
        reason = str(error) if isinstance(error, ValueError) else (error.strerror or str(error))
        return RunInfo(
            path,
            path.name,
            started,
            model,
            augment,
            Status.UNREADABLE.value,
            0,
            None,
            None,
            None,
            None,
            reason=f"unreadable: {reason}",
        )
    resolved = config.get("resolved") if isinstance(config.get("resolved"), dict) else {}
    kept_val_acc = _kept_val_acc(metrics, config.get("keep"))  # from metrics.csv, read only when it is needed
    summary = summary or Summary(
        status=Status.RUNNING.value if running else Status.INTERRUPTED.value,
        epochs_run=len(metrics),
        val_acc=kept_val_acc,
        reason=None if running else "the run ended without a summary",
    )
    status = summary.status
    if running:
        status = Status.RUNNING.value
    elif status == Status.RUNNING.value:
        status = Status.INTERRUPTED.value
    model = summary.model if summary.model != "?" else str(config.get("model", "?"))
    images = resolved.get("train_images") if isinstance(resolved.get("train_images"), int) else None
    progress = _progress(path) if running else None
    epochs = (
        summary.epochs
        if summary.epochs is not None
        else config.get("epochs")
        if isinstance(config.get("epochs"), int)
        else None
    )
    return RunInfo(
        path=path,
        name=path.name,
        started=started,
        model=model,
        augment=bool(summary.augment or config.get("augment", False)),
        status=status,
        epochs_run=summary.epochs_run if not running else (progress[0] - 1 if progress else 0),
        test_acc=summary.test_acc,
        val_acc=kept_val_acc if running and metrics else summary.val_acc,
        params=summary.params,
        train_seconds=summary.train_seconds,
        epochs=epochs,
        reason=summary.reason or "",
        train_images=images,
        progress=progress,
    )


def _kept_val_acc(metrics: list[dict], keep) -> float | None:
    """The validation accuracy of the epoch whose weights a run without a summary keeps so far: the lowest
    validation loss, or the last epoch under keep=last (as the trainer chooses)."""
    rows = [row for row in metrics if "val_acc" in row and "val_loss" in row]
    if not rows:
        return None
    return (rows[-1] if keep == "last" else min(rows, key=lambda row: row["val_loss"]))["val_acc"]


def _progress(path: Path) -> tuple[int, int, int, int] | None:
    """(epoch, epochs, batch, batches) from the tail of a live run's event log."""
    from . import events as ev
    from .live import last_events

    epoch = epochs = batch = batches = 0
    for event in last_events(path):
        if isinstance(event, ev.RunStarted):
            epochs, batches, epoch = event.epochs, event.batches_per_epoch, event.start_epoch + 1
        elif isinstance(event, ev.BatchProgress):
            epoch, epochs, batch, batches = event.epoch, event.epochs, event.batch, event.batches
        elif isinstance(event, ev.EpochCompleted):
            epoch, epochs, batch = event.epoch + 1, event.epochs, 0
        elif isinstance(event, (ev.RunFinished, ev.RunFailed)):  # a reopened run, its new life not started yet
            batch = 0  # it goes on from the start of this epoch
    return (min(epoch, epochs), epochs, batch, batches) if epochs else None


def list_runs(runs_dir: Path | str) -> list[RunInfo]:
    """Every run folder, newest first."""
    runs_dir = Path(runs_dir)
    try:
        paths = list(runs_dir.iterdir())
    except OSError:
        return []
    runs = [info for p in paths if (info := read_run(p))]
    return sorted(runs, key=lambda r: _age_key(r.name), reverse=True)


def mark_ended(run_dir: Path | str, status: Status, reason: str) -> Path:
    """Record a run whose process is gone: summary status and reason, folder renamed, stray temp files removed.

    Complete files (config, metrics, an atomically written best.pt and resume.pt) are kept. A summary
    that already says finished or cancelled wins. Another reader may do the same at the same moment:
    whoever renames second finds the folder gone and returns where it went."""
    path = Path(run_dir)
    if not path.exists():
        return find_renamed(path.parent, stem(path)) or path
    for temp in path.glob(".*.tmp"):
        temp.unlink(missing_ok=True)  # half-written files from a write the kill interrupted
    (path / "stop").unlink(missing_ok=True)
    try:
        summary = read_summary(path)
    except ValueError:
        summary = None
    if summary is not None and summary.status in SUCCESS:
        final = summary.status
        try:
            return finalize(path, final, summary.test_acc)
        except FileNotFoundError:
            return find_renamed(path.parent, stem(path)) or path
    config = read_json(path / CONFIG)
    metrics = read_metrics(path)
    summary = summary or Summary()
    summary.model = str(config.get("model", summary.model))
    summary.augment = bool(config.get("augment", summary.augment))
    summary.epochs = config.get("epochs") if isinstance(config.get("epochs"), int) else summary.epochs
    summary.preset = config.get("preset") or summary.preset
    summary.epochs_run, summary.status, summary.reason, summary.test_acc = len(metrics), status.value, reason, None
    if metrics and summary.val_acc is None:
        summary.val_acc = max(m.get("val_acc", 0.0) for m in metrics)
    write_summary(path, summary)
    try:
        return finalize(path, status, None)
    except FileNotFoundError:
        return find_renamed(path.parent, stem(path)) or path


def mark_failed(run_dir: str | Path, reason: str) -> Path:
    return mark_ended(run_dir, Status.FAILED, reason)


def resolve_run(runs_dir: Path | str, ref: str) -> Path:
    """A run by path, folder name or unique prefix of its name."""
    direct = Path(ref)
    if direct.is_dir():
        return direct
    candidates = [r.path for r in list_runs(runs_dir) if r.name.startswith(ref)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise RunError(f"no run named {ref!r} (see `mnist-tui runs`)")
    raise RunError(f"{ref!r} matches {len(candidates)} runs; give more of the name")


def mark_default(runs_dir: Path | str, run_dir: Path) -> None:
    write_atomic(Path(runs_dir) / DEFAULT_MARK, (Path(run_dir).name + "\n").encode())


def marked_default(runs_dir: Path | str) -> str:
    """The name in runs/DEFAULT, or "" when none is marked (or the mark cannot be read)."""
    mark = Path(runs_dir) / DEFAULT_MARK
    try:
        return mark.read_text(errors="replace")[:300].strip() if mark.is_file() else ""
    except OSError:
        return ""


def default_run(runs_dir: Path | str, listed: list[RunInfo] | None = None) -> RunInfo | None:
    """The run marked default, else the finished run with the best test accuracy. `listed`: the folder's
    `list_runs`, when the caller has just read it (each reading opens every run's files)."""
    runs = [r for r in (list_runs(runs_dir) if listed is None else listed) if r.usable]
    name = marked_default(runs_dir)
    for run in runs if name else []:
        if run.name == name:
            return run
    scored = [r for r in runs if r.test_acc is not None]
    return max(scored, key=lambda r: r.test_acc) if scored else None


def delete_run(run_dir: Path) -> None:
    shutil.rmtree(run_dir)


def clear_stale_default(runs_dir: Path | str) -> str | None:
    """When DEFAULT names a run folder that is gone, remove the mark and return the name it held."""
    mark = Path(runs_dir) / DEFAULT_MARK
    try:
        name = mark.read_text().strip()
    except OSError:
        return None
    if name and (Path(runs_dir) / name).is_dir():
        return None
    mark.unlink(missing_ok=True)
    return name or "(an empty name)"


def why_untested(status: str, reason: str | None = None) -> str:
    """Why a run has no recorded test accuracy, as a clause for a sentence ("it failed before its test pass:
    ..."), for `evaluate` and the app's Results screen."""
    detail = f": {reason}" if reason else ""
    return {
        "running": "it is still training; this scores its best checkpoint so far",
        "cancelled": "it was cancelled before its test pass",
        "interrupted": f"it was interrupted before its test pass{detail}",
        "failed": f"it failed before its test pass{detail}",
        "unreadable": f"its summary.json cannot be read{detail}",
    }.get(status, f"its summary.json holds none (status {status}{detail})")
