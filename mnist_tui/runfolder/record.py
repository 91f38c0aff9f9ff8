"""A run folder's files and what they hold: the file names, the typed summary and the metrics CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.common.fileio import load_json_object, write_atomic
from mnist_tui.runfolder.status import Status

CONFIG = "config.json"
SUMMARY = "summary.json"
METRICS = "metrics.csv"
CONFUSION = "confusion.json"
CHECKPOINT = "best.pt"  # the kept weights (best validation loss, or the last epoch's)
RESUME = "resume.pt"  # everything needed to continue after the last completed epoch
LOG = "train.log"  # stdout/stderr of a training process the worker started; removed after a clean run
METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
MAX_METRICS_BYTES = 8 * 1024 * 1024


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


def write_summary(run_dir: Path, summary: Summary, *, parents: bool = True) -> None:
    write_json(Path(run_dir) / SUMMARY, summary.to_dict(), parents=parents)


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


class RunError(Exception):
    """A missing or unreadable run; the message is one clear line."""
