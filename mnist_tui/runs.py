"""Run folders: timestamped names, atomic files, self-describing checkpoints, and listing."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .data import read_json, write_atomic

RUNNING_SUFFIX = "_running"
CHECKPOINT = "best.pt"
DEFAULT_MARK = "DEFAULT"  # a file in runs/ naming the run marked as default for predictions
METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]


class RunError(Exception):
    """A missing or unreadable run; the message is one clear line."""


def run_label(model: str, augment: bool) -> str:
    return f"{model}-aug" if augment else model


def create_run_dir(runs_dir: Path | str, model: str, augment: bool) -> Path:
    """`<runs>/<YYYYmmdd-HHMMSS>_<model>[-aug][-N]_running`, never reusing an existing folder.

    The Nth run started within one second, whatever its model, gets `-N`, so names sort by start."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
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
    if status in ("finished", "cancelled") and test_acc is not None:
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
    if not run_dir.name.endswith(RUNNING_SUFFIX):
        return run_dir
    target = final_name(run_dir, status, test_acc)
    os.replace(run_dir, target)
    return target


def write_json(path: Path, payload) -> None:
    write_atomic(path, (json.dumps(payload, indent=2) + "\n").encode())


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(run_dir / "metrics.csv", buffer.getvalue().encode())


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(handle)]


def save_checkpoint(path: Path, model_name: str, model_args: dict, state_dict: dict, config: dict, metrics: dict, normalization: tuple[float, float]) -> None:
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
    write_atomic(Path(path), buffer.getvalue())


def load_checkpoint(path: Path | str, device: str = "cpu"):
    """Rebuild the model from the registry and load its weights. Returns (model, checkpoint dict)."""
    import torch

    from .models import get_spec

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise RunError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is one message for the user
        raise RunError(f"{path} is not a readable checkpoint ({type(error).__name__})") from None
    spec = get_spec(checkpoint["model_name"])
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint.get("model_args", {}).items()}
    model = spec.build(**args)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise RunError(f"{path}: the weights do not match the {checkpoint['model_name']} architecture ({first})") from None
    model.to(device).eval()
    return model, checkpoint


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    started: str  # YYYY-mm-dd HH:MM:SS from the folder name
    model: str
    augment: bool
    status: str  # finished | cancelled | failed | running
    epochs_run: int
    test_acc: float | None
    val_acc: float | None
    params: int | None
    train_seconds: float | None

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists()


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


def read_run(path: Path) -> RunInfo | None:
    match = _STAMP.match(path.name)
    if not path.is_dir() or not match:
        return None
    day, clock, _ = match.groups()
    started = f"{day[:4]}-{day[4:6]}-{day[6:]} {clock[:2]}:{clock[2:4]}:{clock[4:]}"
    summary, config = read_json(path / "summary.json"), read_json(path / "config.json")
    status = summary.get("status") or ("running" if path.name.endswith(RUNNING_SUFFIX) else "failed")
    if status == "running" and not path.name.endswith(RUNNING_SUFFIX):
        status = "failed"
    return RunInfo(
        path=path,
        name=path.name,
        started=started,
        model=summary.get("model") or config.get("model", "?"),
        augment=bool(summary.get("augment", config.get("augment", False))),
        status=status,
        epochs_run=int(summary.get("epochs_run", len(read_metrics(path)))),
        test_acc=summary.get("test_acc"),
        val_acc=summary.get("val_acc"),
        params=summary.get("params"),
        train_seconds=summary.get("train_seconds"),
    )


def list_runs(runs_dir: Path | str) -> list[RunInfo]:
    """Every run folder, newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = [info for p in runs_dir.iterdir() if (info := read_run(p))]
    return sorted(runs, key=lambda r: _age_key(r.name), reverse=True)


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


def default_run(runs_dir: Path | str) -> RunInfo | None:
    """The run marked default, else the finished run with the best test accuracy."""
    runs = [r for r in list_runs(runs_dir) if r.has_checkpoint and r.status in ("finished", "cancelled")]
    mark = Path(runs_dir) / DEFAULT_MARK
    if mark.exists():
        name = mark.read_text().strip()
        for run in runs:
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
