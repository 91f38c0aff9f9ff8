"""Training: `fit(config, report, stop) -> RunResult`, a plain function with a callback and a stop flag."""

from __future__ import annotations

import dataclasses
import math
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from mnist_tui.engine.batches import MEAN, STD, BatchSpec, num_batches, prepare, train_batches
from mnist_tui.engine.config import TrainConfig
from mnist_tui.engine.device import autocast, keep_freed_memory, pick_device, pick_precision, set_threads
from mnist_tui.engine.evaluate import confusion, evaluate, per_class, score
from mnist_tui.engine.models import ModelSpec, count_params, get_spec
from mnist_tui.engine.splits import Splits, load_splits
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live
from mnist_tui.runfolder.checkpoint import Checkpoint
from mnist_tui.runfolder.names import create_run_dir, stem
from mnist_tui.runfolder.record import CHECKPOINT, CONFUSION, Summary, write_json
from mnist_tui.runfolder.recorder import Recorder, load_resume_state
from mnist_tui.runfolder.status import Status

PROGRESS_INTERVAL = 0.1  # seconds: batch progress to `report` is throttled to about 10 Hz (the folder's log to 1 Hz)


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run fails with a hint and keeps its last good checkpoint."""


@dataclass
class RunResult:
    run_dir: Path | None
    status: Status  # finished, cancelled, interrupted or failed
    summary: Summary = field(default_factory=Summary)
    history: list[dict] = field(default_factory=list)
    model: torch.nn.Module | None = None


def prepare_process(config: TrainConfig) -> int:
    """The process-wide settings of a process that trains, made once by its entry point (the CLI, the
    worker child, each rank), never by `fit`: torch's intra-op threads (`config.threads`, 0: all cores)
    and glibc's malloc keeping freed memory for reuse. Returns the thread count."""
    threads = set_threads(config.validate().threads)
    keep_freed_memory()
    return threads


# ---------------------------------------------------------------- what a run fixes at its start


@dataclass(frozen=True)
class RunSetup:
    """What a run fixes at its start: the recipe, where and in what precision it computes, its share of
    the work, the data, and the size of an epoch."""

    config: TrainConfig
    spec: ModelSpec  # the model's registry entry: builds it, and its args go into the checkpoint
    device: torch.device
    precision: str  # fp32 or bf16, resolved from config.precision
    channels_last: bool  # NHWC tensors: config.channels_last, except on MPS
    rank: int
    world: int  # processes training together under torch.distributed (1: none)
    threads: int  # torch's intra-op threads, as the process set them (`prepare_process`)
    data: Splits
    limit: int  # training images per epoch (config.epoch_fraction of them, drawn afresh each epoch)
    steps: int  # batches per epoch

    @property
    def batches(self) -> BatchSpec:
        c = self.config
        return BatchSpec(
            c.batch_size,
            c.augment,
            c.erase_p,
            c.elastic,
            c.aug_strength,
            self.limit,
            self.channels_last,
            self.device,
            (self.rank, self.world),
        )

    def resolved(self) -> dict:
        """What `auto` and the machine turned into, recorded beside the config."""
        return {
            "device": str(self.device),
            "precision": self.precision,
            "threads": self.threads,
            "world_size": self.world,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "synthetic_data": self.data.synthetic,
            "train_images": len(self.data.train_x),
        }


def make_setup(config: TrainConfig) -> RunSetup:
    """Resolve the device, precision and rank, load the data and size an epoch."""
    rank, world = _distributed()
    device = pick_device(config.device)
    precision = pick_precision(config.precision, device)
    data = load_splits(config.data_dir or None, config.train_subset or None)
    limit = epoch_images(len(data.train_x), config.epoch_fraction)
    channels_last = config.channels_last and device.type != "mps"
    return RunSetup(
        config,
        get_spec(config.model),
        device,
        precision,
        channels_last,
        rank,
        world,
        torch.get_num_threads(),
        data,
        limit,
        num_batches(limit, config.batch_size),
    )


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def epoch_images(n: int, fraction: float) -> int:
    """Images per epoch: all n, or a random `fraction` of them (drawn afresh each epoch)."""
    return n if fraction >= 1.0 else max(1, int(round(n * fraction)))


# ---------------------------------------------------------------- what trains


def make_optimizer(config: TrainConfig, params, steps_per_epoch: int):
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle" and total >= 3:
        # A quarter of the steps warm up. OneCycleLR divides by (pct_start * total - 1), so a run of exactly
        # 4 steps would crash; 1.5 / total keeps that at 0.5 or more for short runs.
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total, pct_start=min(0.5, max(0.25, 1.5 / total))
        )
        per_batch = True
    elif config.schedule == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
        per_batch = False
    else:  # constant, or a OneCycle too short to have a shape (1-2 steps): the peak rate throughout
        scheduler, per_batch = None, False
    return optimizer, scheduler, per_batch


def make_ema(model: torch.nn.Module, decay: float):
    """An exponential moving average of the weights and BN statistics, or None when decay is 0."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@dataclass(frozen=True)
class TrainStep:
    """One batch's update, the same for every batch of a run: the loss, in `precision` on `device`, then
    the optimizer's step and what follows it each batch (a per-batch LR schedule, the EMA)."""

    optimizer: torch.optim.Optimizer
    device: torch.device
    precision: str = "fp32"
    label_smoothing: float = 0.0
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None  # stepped every batch (OneCycle) when given
    ema: torch.optim.swa_utils.AveragedModel | None = None

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss, backward and update on one batch; returns (logits, loss)."""
        with autocast(self.device, self.precision):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(model.module if hasattr(model, "module") else model)
        return logits, loss


@dataclass(frozen=True)
class Trainer:
    """What a run trains with, built once: the model, one batch's update, the LR schedule and the random
    streams. `state_dict` is what a resumed run needs of them."""

    model: torch.nn.Module
    trainable: torch.nn.Module  # what the batches go through: the model, or its DDP wrapper across ranks
    step: TrainStep
    scheduler: torch.optim.lr_scheduler.LRScheduler | None  # per batch (then `step` has it too) or per epoch
    generator: torch.Generator  # batch order: the same on every rank
    aug_generator: torch.Generator  # augmentation: a stream per rank

    @property
    def scored(self) -> torch.nn.Module:
        """The weights that are validated, saved and tested: the EMA's, when there is one."""
        return self.step.ema.module if self.step.ema is not None else self.model

    @property
    def params(self) -> int:
        return count_params(self.model)

    def end_epoch(self) -> None:
        """Step a per-epoch LR schedule (a per-batch one steps in `step`)."""
        if self.scheduler is not None and self.step.scheduler is None:
            self.scheduler.step()

    def state_dict(self) -> dict:
        ema = self.step.ema
        return {
            "model": self.model.state_dict(),
            "optimizer": self.step.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "ema": ema.state_dict() if ema is not None else None,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.step.device.type == "cuda" else None,
            "generator": self.generator.get_state(),
            "aug_generator": self.aug_generator.get_state(),
        }

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.step.optimizer.load_state_dict(saved["optimizer"])
        if self.scheduler is not None and saved.get("scheduler") is not None:
            self.scheduler.load_state_dict(saved["scheduler"])
        if self.step.ema is not None and saved.get("ema") is not None:
            self.step.ema.load_state_dict(saved["ema"])
        torch.set_rng_state(saved["rng"])
        if self.step.device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        self.generator.set_state(saved["generator"])
        self.aug_generator.set_state(saved["aug_generator"])


def make_trainer(setup: RunSetup) -> Trainer:
    """Build the model, optimizer, schedule and EMA, all seeded from config.seed. The initial weights
    (and dropout) draw from torch's global RNG, which this seeds: `fit` calls it inside `own_rng`."""
    config, device = setup.config, setup.device
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    aug_generator = torch.Generator().manual_seed(config.seed * 1000 + setup.rank + 1)
    memory_format = torch.channels_last if setup.channels_last else torch.contiguous_format
    model = setup.spec.create().to(device).to(memory_format=memory_format)
    trainable = model
    if setup.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trainable = DistributedDataParallel(
            model, device_ids=[torch.cuda.current_device()] if device.type == "cuda" else None
        )
    optimizer, scheduler, per_batch = make_optimizer(config, model.parameters(), setup.steps)
    ema = make_ema(model, config.ema_decay)
    step = TrainStep(optimizer, device, setup.precision, config.label_smoothing, scheduler if per_batch else None, ema)
    return Trainer(model, trainable, step, scheduler, generator, aug_generator)


def own_rng(device: torch.device):
    """Fork torch's global RNG (CPU, and CUDA's on a GPU) so that a run seeding it for its model's initial
    weights and dropout leaves its caller's random state as it found it."""
    return torch.random.fork_rng(devices=range(torch.cuda.device_count()) if device.type == "cuda" else [])


# ---------------------------------------------------------------- what changes from epoch to epoch


@dataclass
class RunState:
    """What changes from epoch to epoch. Saved with the Trainer's state after every epoch, so that a
    resumed run goes on as the uninterrupted run would have."""

    history: list[dict] = field(default_factory=list)
    kept: dict = field(default_factory=lambda: {"epoch": 0, "val_acc": 0.0})  # the epoch whose weights are kept
    lowest_val_loss: float = math.inf
    stale: int = 0  # epochs since the validation loss last fell
    resumed: int = 0  # times the run was resumed
    started: float = field(default_factory=time.perf_counter)  # the clock's zero, earlier by a resumed run's past

    @classmethod
    def resumed_from(cls, saved: dict) -> RunState:
        return cls(
            list(saved["history"]),
            dict(saved["kept"]),
            saved["lowest_val_loss"],
            saved["stale"],
            saved.get("resumed", 0) + 1,
            time.perf_counter() - saved["elapsed"],
        )

    def add(self, row: dict, keep: str) -> bool:
        """Record a validated epoch and choose the weights to keep (config.keep); True if its loss improved."""
        self.history.append(row)
        improved = row["val_loss"] < self.lowest_val_loss
        if improved:
            self.lowest_val_loss, self.stale = row["val_loss"], 0
        else:
            self.stale += 1
        if improved or keep == "last":
            self.kept = {"epoch": row["epoch"], "val_acc": row["val_acc"]}
        return improved

    def saved(self) -> dict:
        return {
            "history": self.history,
            "kept": self.kept,
            "lowest_val_loss": self.lowest_val_loss,
            "stale": self.stale,
            "elapsed": time.perf_counter() - self.started,
            "resumed": self.resumed,
        }

    def summary(self, config: TrainConfig, params: int, status: Status, test_acc=None, stopped_early=False) -> Summary:
        return Summary(
            status=status,
            model=config.model,
            augment=config.augment,
            params=params,
            epochs=config.epochs,
            epochs_run=len(self.history),
            best_epoch=self.kept["epoch"] or None,
            kept=config.keep,
            val_acc=self.kept["val_acc"] if self.kept["epoch"] else None,
            test_acc=test_acc,
            train_seconds=round(time.perf_counter() - self.started, 3),
            stopped_early=stopped_early,
            preset=config.preset or None,
            ema_decay=config.ema_decay or None,
            tta=config.tta,
            resumed=self.resumed,
        )


# ---------------------------------------------------------------- the run folder


def open_run(
    setup: RunSetup, trainer: Trainer, state: RunState, report, run_id: str | None, run_dir: Path | str | None
) -> Recorder:
    """Create the run folder (rank 0, unless the caller made it), record the config and announce the run."""
    config = setup.config
    if setup.rank == 0:
        run_dir = Path(run_dir) if run_dir else create_run_dir(config.runs_dir, config.model, config.augment)
    else:
        run_dir = None
    record = Recorder(run_dir, run_id or (stem(run_dir) if run_dir else f"rank{setup.rank}"), report)
    record.write_config({**config.to_dict(), "resolved": setup.resolved()})
    record(
        ev.RunStarted(
            record.run_id,
            str(run_dir),
            config.model,
            config.augment,
            trainer.params,
            config.epochs,
            setup.steps,
            str(setup.device),
            setup.precision,
            start_epoch=len(state.history),
        )
    )
    return record


# ---------------------------------------------------------------- the run


def fit(
    config: TrainConfig,
    report: Callable[[object], None] | None = None,
    stop: StopFlag | None = None,
    run_id: str | None = None,
    run_dir: Path | str | None = None,
    resume: bool = False,
) -> RunResult:
    """Train, keep the best-validation (or the last) weights, test them, and record everything in a run folder.

    `run_dir` is a `..._running` folder made by the caller (the worker), else a new one is created.
    With `resume`, training continues in `run_dir` after its last completed epoch, from the saved
    optimizer, scheduler, EMA and random states, so the end result is the one the run would have had.
    `stop.is_set()` is polled every batch; a stop file in the folder (`mnist-tui stop`) does the same.
    Under torch.distributed each rank trains on its shard of every batch (DDP); only rank 0 writes
    the run folder and reports. `fit` changes no process-wide setting: the caller's entry point sets
    the thread count (`prepare_process`), and torch's global RNG, seeded here, is forked (`own_rng`).
    """
    config.validate()
    setup = make_setup(config)
    report = report if (report and setup.rank == 0) else (lambda event: None)
    if resume and setup.world > 1:
        raise ValueError("resume a run in one process (without --procs)")
    saved = load_resume_state(Path(run_dir)) if resume else None
    with own_rng(setup.device):
        trainer = make_trainer(setup)
        state = RunState()
        if saved is not None:
            trainer.load_state_dict(saved)
            state = RunState.resumed_from(saved)
        record = open_run(setup, trainer, state, report, run_id, run_dir)
        if not isinstance(stop, live.FolderStop):
            stop = live.FolderStop(record.run_dir, stop)
        stop.run_dir = stop.run_dir or record.run_dir
        try:
            status, stopped_early = train_epochs(setup, trainer, state, record, stop)
            return finish(setup, trainer, state, record, status, stop.reason, stopped_early)
        except BaseException as error:
            record_failure(error, setup, trainer, state, record)
            raise


def train_epochs(
    setup: RunSetup, trainer: Trainer, state: RunState, record: Recorder, stop: StopFlag
) -> tuple[Status, bool]:
    """Train the epochs not run yet, validating, checkpointing and saving the resume state after each.
    Returns how the loop ended (finished, or the stop flag's status) and whether early stopping ended it."""
    config, data = setup.config, setup.data
    # Normalise the whole training set once; a batch is then one gather (and an optional augmentation).
    train_x, train_y = prepare(data.train_x, setup.channels_last).to(setup.device), data.train_y.to(setup.device)
    for epoch in range(len(state.history) + 1, config.epochs + 1):
        batches = train_batches(train_x, train_y, setup.batches, trainer.generator, trainer.aug_generator)
        report = EpochReport(setup, epoch, record, stop)
        row = train_one_epoch(trainer.trainable, batches, trainer.step, report)
        if row is None:
            return stop.status, False
        trainer.end_epoch()
        val = evaluate(
            trainer.scored,
            data.val_x,
            data.val_y,
            setup.device,
            setup.precision,
            config.eval_batch_size,
            setup.channels_last,
        )
        row.update(val_loss=val.loss, val_acc=val.acc, seconds=time.perf_counter() - report.start)
        improved = state.add(row, config.keep)
        if record.run_dir:
            checkpoint = None
            if state.kept["epoch"] == epoch:
                weights = trainer.scored.state_dict()
                checkpoint = Checkpoint(
                    config.model, setup.spec.args, weights, config.to_dict(), dict(row), (MEAN, STD)
                )
            record.epoch_done(state.history, checkpoint, {"epoch": epoch, **trainer.state_dict(), **state.saved()})
        record(ev.EpochCompleted(record.run_id, epochs=config.epochs, best=improved, **row))  # row: the other fields
        if config.patience and state.stale >= config.patience and epoch < config.epochs:
            return Status.FINISHED, True
        if report.stopped():
            return stop.status, False
    return Status.FINISHED, False


class EpochReport:
    """One epoch's link with whoever follows the run: BatchProgress events out, throttled to about 10 Hz
    and carrying speed and the run's ETA, and the stop flag in, agreed across ranks."""

    def __init__(self, setup: RunSetup, epoch: int, record: Recorder, stop: StopFlag):
        self.epoch, self.epochs, self.steps = epoch, setup.config.epochs, setup.steps
        self.world, self.device, self.record, self.stop = setup.world, setup.device, record, stop
        self.start = self.last = time.perf_counter()

    def due(self, batch: int) -> bool:
        now = time.perf_counter()
        if now - self.last >= PROGRESS_INTERVAL or batch == self.steps:
            self.last = now
            return True
        return False

    def __call__(self, batch: int, seen: int, loss: float, acc: float) -> None:
        elapsed = max(self.last - self.start, 1e-9)
        remaining = (self.steps - batch) + self.steps * (self.epochs - self.epoch)
        rate, eta = seen * self.world / elapsed, remaining * elapsed / batch
        event = ev.BatchProgress(self.record.run_id, self.epoch, self.epochs, batch, self.steps, loss, rate, eta, acc)
        self.record(event)

    def stopped(self) -> bool:
        return _should_stop(self.stop, self.world, self.device)


def train_one_epoch(model, batches, step: TrainStep, report: EpochReport) -> dict | None:
    """One pass over `batches`; returns the epoch's row, or None when the run was stopped mid-epoch."""
    model.train()
    loss_sum = torch.zeros((), device=step.device)
    correct = torch.zeros((), device=step.device, dtype=torch.long)
    seen = 0
    for batch, (x, y) in enumerate(batches, 1):
        logits, loss = step(model, x, y)
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        due = report.due(batch)
        if due or step.device.type == "cpu":  # on a GPU only check when reporting: .item() waits for the device
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"loss became {'NaN' if math.isnan(value) else 'infinite'} at epoch "
                    f"{report.epoch}, batch {batch}: lower the learning rate"
                )
            if due:
                report(batch, seen, value, correct.item() / seen)
        if report.stopped():
            return None
    elapsed = time.perf_counter() - report.start
    return {
        "epoch": report.epoch,
        "train_loss": (loss_sum / max(seen, 1)).item(),
        "train_acc": correct.item() / max(seen, 1),
        "lr": step.optimizer.param_groups[0]["lr"],
        "images_per_sec": seen * report.world / max(elapsed, 1e-9),
        "seconds": elapsed,
    }


def _should_stop(stop: StopFlag, world: int, device: torch.device) -> bool:
    """Under DDP every rank must stop at the same batch, so the ranks agree on the flag."""
    flag = stop.is_set()
    if world == 1:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return bool(tensor.item())


def finish(
    setup: RunSetup,
    trainer: Trainer,
    state: RunState,
    record: Recorder,
    status: Status,
    reason: str,
    stopped_early: bool = False,
):
    """Test the kept weights, write the summary and give the folder its final name."""
    model, test_acc = trainer.scored, None
    # The kept weights (best validation loss, or the last epoch's) are the ones that get tested. A
    # stopped run skips the test pass so its process exits at once; `mnist-tui evaluate` (or Results)
    # scores its checkpoint on demand.
    if status == Status.FINISHED and record.run_dir and (record.run_dir / CHECKPOINT).exists():
        model, test_acc = _test(record.run_dir, setup)
    summary = state.summary(setup.config, trainer.params, status, test_acc, stopped_early)
    if reason:
        summary = dataclasses.replace(summary, reason=reason)
    run_dir = record.end(summary, status, test_acc, lambda where: ev.RunFinished(record.run_id, where, status, summary))
    return RunResult(run_dir, status, summary, state.history, model)


def _test(run_dir: Path, setup: RunSetup) -> tuple[torch.nn.Module, float]:
    """Score the saved checkpoint on the test set and write its confusion matrix."""
    from mnist_tui.training.inference import load_run, run_logits

    kept_run = load_run(run_dir, str(setup.device))  # the one inference path: what every later reader computes
    test = score(run_logits(kept_run, setup.data.test_x), setup.data.test_y)
    labels = setup.data.test_y.numpy()
    write_json(
        run_dir / CONFUSION,
        {
            "labels": list(range(10)),
            "counts": confusion(labels, test.predictions).tolist(),
            "per_class": per_class(labels, test.predictions),
            "test_loss": test.loss,
            "test_acc": test.acc,
        },
        parents=False,
    )
    return kept_run.model, test.acc


def record_failure(error: BaseException, setup: RunSetup, trainer: Trainer, state: RunState, record: Recorder):
    """Record a run that raised; called from the `except` block, so the traceback is the error's."""
    if isinstance(error, KeyboardInterrupt):  # a second Ctrl-C: aborted mid-batch, resumable from its last epoch
        status, reason = Status.INTERRUPTED, "aborted with a second Ctrl-C"
    else:
        status = Status.FAILED
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    summary = state.summary(setup.config, trainer.params, status)
    summary = dataclasses.replace(
        summary, reason=reason, traceback=None if status == Status.INTERRUPTED else traceback.format_exc(limit=8)
    )
    record.failed(summary, status, reason)
