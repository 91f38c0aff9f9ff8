"""Small picklable events that training sends to whoever listens (a list, the CLI, a queue)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mnist_tui.runfolder.record import Summary


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    run_dir: str
    model: str
    augment: bool
    params: int
    epochs: int
    batches_per_epoch: int
    device: str
    precision: str
    start_epoch: int = 0  # a resumed run continues after this many completed epochs


@dataclass(frozen=True)
class BatchProgress:
    run_id: str
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, batches done in this epoch
    batches: int
    loss: float
    images_per_sec: float
    eta_seconds: float  # for the whole run
    acc: float | None = None  # training accuracy over this epoch's batches so far


@dataclass(frozen=True)
class EpochCompleted:
    run_id: str
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_sec: float
    best: bool  # this epoch improved the validation loss


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    run_dir: str
    status: str  # a Status value: finished, cancelled or interrupted
    summary: Summary = field(default_factory=Summary)


@dataclass(frozen=True)
class RunFailed:
    run_id: str
    run_dir: str
    reason: str


Event = RunStarted | BatchProgress | EpochCompleted | RunFinished | RunFailed
