"""Training: `fit(config, report, stop) -> RunResult`, a plain function with a callback and a stop flag."""

from __future__ import annotations

import math
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch._dynamo
import torch.nn.functional as F

from . import events as ev
from . import live, runs
from .batches import MEAN, STD, num_batches, prepare, train_batches
from .config import TrainConfig
from .data import load_splits
from .device import autocast, keep_freed_memory, pick_device, pick_precision, set_threads
from .evaluate import confusion, evaluate, per_class, score
from .models import count_params, get_spec

PROGRESS_INTERVAL = 0.1  # seconds: batch progress to `report` is throttled to about 10 Hz (the folder's log to 1 Hz)


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class _NeverStop:
    def is_set(self) -> bool:
        return False


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run fails with a hint and keeps its last good checkpoint."""


@dataclass
class RunResult:
    run_dir: Path | None
    status: str  # finished | cancelled | interrupted | failed
    summary: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    model: torch.nn.Module | None = None


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


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class Recorder:
    """Every write to a run folder while it trains: config, the event log, heartbeat, metrics,
    checkpoints, the resume state and the summary. Rank 0 only: other ranks get `Recorder(None)`,
    which writes nothing but still passes events on to `report`."""

    def __init__(self, run_dir: Path | None, run_id: str, report: Callable[[object], None]):
        self.run_dir, self.run_id, self._report = run_dir, run_id, report
        self.log = live.EventLog(run_dir) if run_dir else None
        self.heartbeat = live.Heartbeat(run_dir, run_id) if run_dir else None

    def __call__(self, event) -> None:
        if self.log is not None:
            self.log(event)
        self._report(event)

    def write_config(self, payload: dict) -> None:
        if self.run_dir:
            runs.write_json(self.run_dir / runs.CONFIG, payload)

    def epoch_done(self, history: list[dict], checkpoint: tuple | None, resume_state: dict) -> None:
        if not self.run_dir:
            return
        if checkpoint is not None:
            runs.save_checkpoint(self.run_dir / runs.CHECKPOINT, *checkpoint)
        runs.write_metrics(self.run_dir, history)
        save_resume_state(self.run_dir, resume_state)

    def end(self, summary: dict, status: str, test_acc: float | None, event_for) -> Path | None:
        """Write the summary, log the final event with the final folder name, then rename the folder."""
        if not self.run_dir:
            self._report(event_for(""))
            return None
        self.heartbeat.stop()
        runs.write_json(self.run_dir / runs.SUMMARY, summary)
        if status == "finished":
            (self.run_dir / runs.RESUME).unlink(missing_ok=True)  # nothing left to resume
        target = (
            runs.final_name(self.run_dir, status, test_acc)
            if self.run_dir.name.endswith(runs.RUNNING_SUFFIX)
            else self.run_dir
        )
        (self.run_dir / live.STOP).unlink(missing_ok=True)
        self(event_for(str(target)))
        if target != self.run_dir:
            runs.move(self.run_dir, target)  # the name the end event announced
        self.run_dir = target
        return target


def save_resume_state(run_dir: Path, state: dict) -> None:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    runs.write_atomic(run_dir / runs.RESUME, buffer.getvalue())


def load_resume_state(run_dir: Path) -> dict:
    path = Path(run_dir) / runs.RESUME
    if not path.exists():
        raise runs.RunError(
            f"{Path(run_dir).name} has no resume state ({runs.RESUME}); it ended before its first epoch "
            "or was trained by an older version"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is one message for the user
        raise runs.RunError(f"{path} is not a readable resume state ({type(error).__name__})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise runs.RunError(f"{path} is not a resume state")
    return state


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
    the run folder and reports.
    """
    config.validate()
    rank, world = _distributed()
    report = report if (report and rank == 0) else (lambda event: None)
    threads = set_threads(config.threads)
    keep_freed_memory()
    state = None
    if resume:
        if world > 1:
            raise ValueError("resume a run in one process (without --procs)")
        state = load_resume_state(Path(run_dir))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # batch order: the same on every rank
    aug_generator = torch.Generator().manual_seed(config.seed * 1000 + rank + 1)
    device = pick_device(config.device)
    precision = pick_precision(config.precision, device)
    splits = load_splits(config.data_dir or None, config.train_subset or None)

    spec = get_spec(config.model)
    model = spec.create().to(device)
    memory_format = torch.channels_last if config.channels_last and device.type != "mps" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    trainable = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trainable = DistributedDataParallel(
            model, device_ids=[torch.cuda.current_device()] if device.type == "cuda" else None
        )
    channels_last = memory_format == torch.channels_last
    # Normalise the whole training set once; a batch is then one gather (and an optional augmentation).
    train_x, train_y = prepare(splits.train_x, channels_last).to(device), splits.train_y.to(device)
    limit = epoch_images(len(train_x), config.epoch_fraction)
    steps = num_batches(limit, config.batch_size)
    optimizer, scheduler, per_batch = make_optimizer(config, model.parameters(), steps)
    params = count_params(model)
    ema = make_ema(model, config.ema_decay)
    scored = ema.module if ema is not None else model  # the weights that are validated, saved and tested

    history: list[dict] = []
    kept = {"epoch": 0, "val_acc": 0.0}  # the epoch whose weights are kept (config.keep)
    lowest_val_loss, stale, elapsed, resumed = math.inf, 0, 0.0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        generator.set_state(state["generator"])
        aug_generator.set_state(state["aug_generator"])
        history, kept = list(state["history"]), dict(state["kept"])
        lowest_val_loss, stale, elapsed = state["lowest_val_loss"], state["stale"], state["elapsed"]
        resumed = state.get("resumed", 0) + 1
    first_epoch = len(history) + 1

    if rank == 0:
        run_dir = Path(run_dir) if run_dir else runs.create_run_dir(config.runs_dir, config.model, config.augment)
    else:
        run_dir = None
    run_id = run_id or (runs.stem(run_dir) if run_dir else f"rank{rank}")
    record = Recorder(run_dir, run_id, report)
    if isinstance(stop, live.FolderStop):
        stop.run_dir = stop.run_dir or run_dir
    else:
        stop = live.FolderStop(run_dir, stop)
    resolved = {
        "device": str(device),
        "precision": precision,
        "threads": threads,
        "world_size": world,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "synthetic_data": splits.synthetic,
        "train_images": len(splits.train_x),
    }
    record.write_config({**config.to_dict(), "resolved": resolved})
    record(
        ev.RunStarted(
            run_id,
            str(run_dir),
            config.model,
            config.augment,
            params,
            config.epochs,
            steps,
            str(device),
            precision,
            start_epoch=first_epoch - 1,
        )
    )

    status, started = "finished", time.perf_counter() - elapsed
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            batches = train_batches(
                train_x,
                train_y,
                config.batch_size,
                generator,
                config.augment,
                channels_last,
                device,
                (rank, world),
                aug_generator,
                limit=limit,
                erase_p=config.erase_p,
                elastic=config.elastic,
                strength=config.aug_strength,
            )
            progress = _Progress(run_id, epoch, config.epochs, steps, world, record)
            row = train_one_epoch(
                trainable,
                batches,
                optimizer,
                progress,
                config.label_smoothing,
                scheduler if per_batch else None,
                ema,
                stop,
                device,
                precision,
            )
            if row is None:
                status = stop.status
                break
            if scheduler is not None and not per_batch:
                scheduler.step()
            val = evaluate(scored, splits.val_x, splits.val_y, device, precision, config.eval_batch_size, channels_last)
            row.update(val_loss=val.loss, val_acc=val.acc, seconds=time.perf_counter() - progress.start)
            history.append(row)
            improved = val.loss < lowest_val_loss
            if improved:
                lowest_val_loss, stale = val.loss, 0
            else:
                stale += 1
            checkpoint = None
            if improved or config.keep == "last":
                kept = {"epoch": epoch, "val_acc": val.acc}
                checkpoint = (config.model, spec.args, scored.state_dict(), config.to_dict(), dict(row), (MEAN, STD))
            if run_dir:
                record.epoch_done(
                    history,
                    checkpoint,
                    {
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict() if scheduler is not None else None,
                        "ema": ema.state_dict() if ema is not None else None,
                        "rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                        "generator": generator.get_state(),
                        "aug_generator": aug_generator.get_state(),
                        "history": history,
                        "kept": kept,
                        "lowest_val_loss": lowest_val_loss,
                        "stale": stale,
                        "elapsed": time.perf_counter() - started,
                        "resumed": resumed,
                    },
                )
            record(
                ev.EpochCompleted(
                    run_id,
                    epoch,
                    config.epochs,
                    row["train_loss"],
                    row["train_acc"],
                    val.loss,
                    val.acc,
                    row["lr"],
                    row["seconds"],
                    row["images_per_sec"],
                    improved,
                )
            )
            if config.patience and stale >= config.patience and epoch < config.epochs:
                status = "stopped_early"
                break
            if _should_stop(stop, world, device):
                status = stop.status
                break
        return _finish(
            scored,
            config,
            splits,
            device,
            precision,
            channels_last,
            record,
            status,
            stop.reason,
            kept,
            history,
            params,
            started,
            resumed,
        )
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):  # a second Ctrl-C: aborted mid-batch, resumable from its last epoch
            status, reason = "interrupted", "aborted with a second Ctrl-C"
        else:
            status = "failed"
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        summary = _summary(config, params, history, kept, None, started, status, False, resumed)
        summary.update(reason=reason, traceback=None if status == "interrupted" else traceback.format_exc(limit=8))

        def end_event(where):
            if status == "interrupted":
                return ev.RunFinished(run_id, where, status, summary)
            return ev.RunFailed(run_id, where, reason)

        try:
            record.end(summary, status, None, end_event)
        except OSError as write_error:  # a full disk: say why the folder could not record the failure
            report(
                ev.RunFailed(run_id, str(run_dir), f"{reason} (and the run folder could not be updated: {write_error})")
            )
        raise


def epoch_images(n: int, fraction: float) -> int:
    """Images per epoch: all n, or a random `fraction` of them (drawn afresh each epoch)."""
    return n if fraction >= 1.0 else max(1, int(round(n * fraction)))


def make_ema(model: torch.nn.Module, decay: float):
    """An exponential moving average of the weights and BN statistics, or None when decay is 0."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


class _Progress:
    """Batch progress for one epoch: throttled BatchProgress events with speed and the run's ETA."""

    def __init__(self, run_id: str, epoch: int, epochs: int, steps: int, world: int, report):
        self.run_id, self.epoch, self.epochs, self.steps, self.world, self.report = (
            run_id,
            epoch,
            epochs,
            steps,
            world,
            report,
        )
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
        self.report(
            ev.BatchProgress(
                self.run_id,
                self.epoch,
                self.epochs,
                batch,
                self.steps,
                loss,
                seen * self.world / elapsed,
                remaining * elapsed / batch,
                acc,
            )
        )


def train_one_epoch(
    model,
    batches,
    optimizer,
    progress: _Progress,
    label_smoothing: float = 0.0,
    scheduler=None,
    ema=None,
    stop: StopFlag | None = None,
    device: torch.device | None = None,
    precision: str = "fp32",
) -> dict | None:
    """One pass over `batches`; returns the epoch's row, or None when `stop` was set mid-epoch."""
    model.train()
    device = device or torch.device("cpu")
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for batch, (x, y) in enumerate(batches, 1):
        with autocast(device, precision):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(model.module if hasattr(model, "module") else model)
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        due = progress.due(batch)
        if due or device.type == "cpu":  # on a GPU only check when reporting: .item() waits for the device
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"loss became {'NaN' if math.isnan(value) else 'infinite'} at epoch "
                    f"{progress.epoch}, batch {batch}: lower the learning rate"
                )
            if due:
                progress(batch, seen, value, correct.item() / seen)
        if stop is not None and _should_stop(stop, progress.world, device):
            return None
    elapsed = time.perf_counter() - progress.start
    return {
        "epoch": progress.epoch,
        "train_loss": (loss_sum / max(seen, 1)).item(),
        "train_acc": correct.item() / max(seen, 1),
        "lr": optimizer.param_groups[0]["lr"],
        "images_per_sec": seen * progress.world / max(elapsed, 1e-9),
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


def _summary(config, params, history, kept, test_acc, started, status, stopped_early, resumed=0) -> dict:
    return runs.Summary(
        status=status,
        model=config.model,
        augment=config.augment,
        params=params,
        epochs=config.epochs,
        epochs_run=len(history),
        best_epoch=kept["epoch"] or None,
        kept=config.keep,
        val_acc=kept["val_acc"] if kept["epoch"] else None,
        test_acc=test_acc,
        train_seconds=round(time.perf_counter() - started, 3),
        stopped_early=stopped_early,
        preset=config.preset or None,
        ema_decay=config.ema_decay or None,
        tta=config.tta,
        resumed=resumed,
    ).to_dict()


def _finish(
    model,
    config,
    splits,
    device,
    precision,
    channels_last,
    record: Recorder,
    status,
    reason,
    kept,
    history,
    params,
    started,
    resumed,
) -> RunResult:
    stopped_early = status == "stopped_early"
    status = "finished" if stopped_early else status
    test_acc = None
    run_dir = record.run_dir
    # The kept weights (best validation loss, or the last epoch's) are the ones that get tested. A
    # stopped run skips the test pass so its process exits at once; `mnist-tui evaluate` (or Results)
    # scores its checkpoint on demand.
    if status == "finished" and run_dir and (run_dir / runs.CHECKPOINT).exists():
        from .inference import load_run, run_logits

        kept_run = load_run(run_dir, str(device))  # the one inference path: what every later reader computes
        best_model = kept_run.model
        test = score(run_logits(kept_run, splits.test_x), splits.test_y)
        test_acc = test.acc
        labels = splits.test_y.numpy()
        runs.write_json(
            run_dir / runs.CONFUSION,
            {
                "labels": list(range(10)),
                "counts": confusion(labels, test.predictions).tolist(),
                "per_class": per_class(labels, test.predictions),
                "test_loss": test.loss,
                "test_acc": test.acc,
            },
        )
        model = best_model
    summary = _summary(config, params, history, kept, test_acc, started, status, stopped_early, resumed)
    if reason:
        summary["reason"] = reason
    run_dir = record.end(summary, status, test_acc, lambda where: ev.RunFinished(record.run_id, where, status, summary))
    return RunResult(run_dir, status, summary, history, model)
