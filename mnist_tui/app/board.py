"""The app's picture of its training runs, built only from engine events (no torch, no Textual)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder.record import Summary
from mnist_tui.runfolder.status import ACTIVE, Status

MAX_BATCH_POINTS = 240  # per run: the per-batch curve is thinned to stay under this many points
SMOOTHING = 0.8  # exponential smoothing of the per-batch training loss and accuracy


@dataclass
class RunView:
    run_id: str
    label: str
    status: str = Status.QUEUED.value  # a Status value
    model: str = ""
    augment: bool = False
    run_dir: str = ""
    params: int = 0
    epochs: int = 0
    epoch: int = 0  # epochs completed
    batch: int = 0
    batches: int = 0
    images_per_sec: float = 0.0
    eta_seconds: float = 0.0
    loss: float | None = None
    # Per-epoch points, with everything an epoch line shows.
    history: list[dict] = field(default_factory=list)
    # Smoothed training loss and accuracy from the first batch on: (epochs as a float, loss, acc), thinned.
    batch_points: list[tuple[float, float, float | None]] = field(default_factory=list)
    summary: Summary | None = None
    reason: str = ""
    device: str = ""
    stopping: bool = False  # a stop was requested; it ends at its next batch
    _stride: int = 1
    _skipped: int = 0
    _smooth: tuple[float, float | None] | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def epoch_fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0

    def add_batch_point(self, x: float, loss: float, acc: float | None) -> None:
        if self._smooth is None:
            self._smooth = (loss, acc)
        else:
            old_loss, old_acc = self._smooth
            smooth_acc = acc if old_acc is None or acc is None else SMOOTHING * old_acc + (1 - SMOOTHING) * acc
            self._smooth = (SMOOTHING * old_loss + (1 - SMOOTHING) * loss, smooth_acc)
        self._skipped += 1
        if self._skipped < self._stride:
            return
        self._skipped = 0
        self.batch_points.append((x, *self._smooth))
        if len(self.batch_points) > MAX_BATCH_POINTS:  # keep every other point, and take half as many from now on
            self.batch_points = self.batch_points[::2]
            self._stride *= 2


class Board:
    """Run views in start order, updated by `apply(event)`."""

    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}

    def add(self, run_id: str, label: str, epochs: int, model: str = "", augment: bool = False) -> RunView:
        return self.runs.setdefault(run_id, RunView(run_id, label, epochs=epochs, model=model, augment=augment))

    def apply(self, event) -> RunView | None:
        view = self.runs.get(event.run_id)
        if view is None:
            view = self.add(event.run_id, event.run_id, 0)
        if isinstance(event, ev.RunStarted):
            view.status, view.run_dir, view.params = Status.RUNNING.value, event.run_dir, event.params
            view.model, view.augment = event.model, event.augment
            view.epochs, view.batches, view.device = (
                event.epochs,
                event.batches_per_epoch,
                f"{event.device} {event.precision}",
            )
            view.history = [p for p in view.history if p["epoch"] <= event.start_epoch]  # a resumed run redoes the rest
            view.batch_points = [p for p in view.batch_points if p[0] <= event.start_epoch]
            view.epoch, view.batch = event.start_epoch, 0
        elif isinstance(event, ev.BatchProgress):
            view.status = Status.RUNNING.value
            view.epoch = event.epoch - 1
            view.batch, view.batches, view.epochs = event.batch, event.batches, event.epochs
            view.images_per_sec, view.eta_seconds, view.loss = event.images_per_sec, event.eta_seconds, event.loss
            view.add_batch_point(event.epoch - 1 + event.batch / max(event.batches, 1), event.loss, event.acc)
        elif isinstance(event, ev.EpochCompleted):
            view.epoch = event.epoch
            view.history = [p for p in view.history if p["epoch"] < event.epoch]
            view.history.append(
                {
                    "epoch": event.epoch,
                    "epochs": event.epochs,
                    "train_loss": event.train_loss,
                    "train_acc": event.train_acc,
                    "val_loss": event.val_loss,
                    "val_acc": event.val_acc,
                    "seconds": event.seconds,
                    "best": event.best,
                }
            )
        elif isinstance(event, ev.RunFinished):
            view.status, view.summary = event.status, event.summary
            view.run_dir = event.run_dir or view.run_dir
            view.eta_seconds = 0.0
            view.reason = event.summary.reason or ""
            if event.status == Status.FINISHED:
                view.batch = view.batches
        elif isinstance(event, ev.RunFailed):
            view.status, view.reason = Status.FAILED.value, event.reason
            view.run_dir = event.run_dir or view.run_dir
        return view

    def active(self) -> list[RunView]:
        return [v for v in self.runs.values() if v.active]

    def forget(self, run_ids) -> list[str]:
        """Drop ended runs' views (their folder was deleted, or a resumed run took their place); returns
        the ids dropped."""
        dropped = [r for r in run_ids if r in self.runs and not self.runs[r].active]
        for run_id in dropped:
            del self.runs[run_id]
        return dropped

    def __iter__(self):
        return iter(self.runs.values())

    def __len__(self) -> int:
        return len(self.runs)
