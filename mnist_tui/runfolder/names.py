"""Run folder names: timestamped, with a suffix for the status, renamed atomically when a run ends or resumes."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from mnist_tui.common.fileio import fsync_dir
from mnist_tui.runfolder.record import RunError
from mnist_tui.runfolder.status import SUCCESS

RUNNING_SUFFIX = "_running"


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
    from mnist_tui.runfolder.live import live_record, write_live

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
