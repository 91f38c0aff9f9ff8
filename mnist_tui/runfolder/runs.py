"""Run folders: timestamped names, atomic files, self-describing checkpoints, and listing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.common.fileio import load_json_object, read_json, write_atomic
from mnist_tui.runfolder.names import _STAMP, RUNNING_SUFFIX, _age_key, _label, finalize, find_renamed, stem
from mnist_tui.runfolder.record import CHECKPOINT, CONFIG, RunError, Summary, read_metrics, read_summary, write_summary
from mnist_tui.runfolder.status import SUCCESS, WITH_WEIGHTS, Status

DEFAULT_MARK = "DEFAULT"  # a file in runs/ naming the run marked as default for predictions


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
        from mnist_tui.runfolder.live import writer_gone

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
    from mnist_tui.runfolder import events as ev
    from mnist_tui.runfolder.live import last_events

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
