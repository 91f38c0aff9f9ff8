"""The app's picture of its training runs, built only from engine events (no torch, no Textual)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import events as ev


@dataclass
class RunView:
    run_id: str
    label: str
    status: str = "starting"  # starting | running | finished | cancelled | failed
    run_dir: str = ""
    params: int = 0
    epochs: int = 0
    epoch: int = 0  # epochs completed
    batch: int = 0
    batches: int = 0
    images_per_sec: float = 0.0
    eta_seconds: float = 0.0
    loss: float | None = None
    # Per-epoch points only, so memory stays flat however long a run trains.
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    reason: str = ""
    device: str = ""

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running")

    @property
    def epoch_fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0


class Board:
    """Run views in start order, updated by `apply(event)`."""

    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}

    def add(self, run_id: str, label: str, epochs: int) -> RunView:
        view = self.runs.setdefault(run_id, RunView(run_id, label, epochs=epochs))
        return view

    def apply(self, event) -> RunView | None:
        view = self.runs.get(event.run_id)
        if view is None:
            view = self.add(event.run_id, event.run_id, 0)
        if isinstance(event, ev.RunStarted):
            view.status, view.run_dir, view.params = "running", event.run_dir, event.params
            view.epochs, view.batches, view.device = event.epochs, event.batches_per_epoch, f"{event.device} {event.precision}"
        elif isinstance(event, ev.BatchProgress):
            view.status = "running"
            view.epoch = event.epoch - 1
            view.batch, view.batches, view.epochs = event.batch, event.batches, event.epochs
            view.images_per_sec, view.eta_seconds, view.loss = event.images_per_sec, event.eta_seconds, event.loss
        elif isinstance(event, ev.EpochCompleted):
            view.epoch = event.epoch
            view.history.append({
                "epoch": event.epoch, "train_loss": event.train_loss, "train_acc": event.train_acc,
                "val_loss": event.val_loss, "val_acc": event.val_acc, "seconds": event.seconds,
            })
        elif isinstance(event, ev.RunFinished):
            view.status, view.summary = event.status, event.summary
            view.run_dir = event.run_dir or view.run_dir
            view.eta_seconds = 0.0
            if event.status == "finished":
                view.batch = view.batches
        elif isinstance(event, ev.RunFailed):
            view.status, view.reason = "failed", event.reason
            view.run_dir = event.run_dir or view.run_dir
        return view

    def active(self) -> list[RunView]:
        return [v for v in self.runs.values() if v.active]

    def __iter__(self):
        return iter(self.runs.values())

    def __len__(self) -> int:
        return len(self.runs)
