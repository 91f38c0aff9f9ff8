"""Training: `fit(config, report, stop) -> RunResult`, a plain function with a callback and a stop flag."""

from __future__ import annotations

import math
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
import torch._dynamo  # noqa: F401 - the first optimizer imports it (1.5 s here); pay that at import, not mid-run
import torch.nn.functional as F

from . import events as ev
from . import runs
from .batches import MEAN, STD, num_batches, prepare, train_batches
from .config import TrainConfig
from .data import load_splits
from .device import autocast, keep_freed_memory, pick_device, pick_precision, set_threads
from .evaluate import confusion, evaluate, per_class
from .models import count_params, get_spec

PROGRESS_INTERVAL = 0.1  # seconds: batch progress is throttled to about 10 Hz


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class _NeverStop:
    def is_set(self) -> bool:
        return False


@dataclass
class RunResult:
    run_dir: Path | None
    status: str  # finished | cancelled | failed
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


def fit(config: TrainConfig, report: Callable[[object], None] | None = None, stop: StopFlag | None = None,
        run_id: str | None = None) -> RunResult:
    """Train, keep the best-validation (or the last) weights, test them, and record everything in a run folder.

    Under torch.distributed each rank trains on its shard of every batch (DDP); only rank 0 writes
    the run folder and reports.
    """
    config.validate()
    rank, world = _distributed()
    report = report if (report and rank == 0) else (lambda event: None)
    stop = stop or _NeverStop()
    threads = set_threads(config.threads)
    keep_freed_memory()
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

        trainable = DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device.type == "cuda" else None)
    channels_last = memory_format == torch.channels_last
    # Normalise the whole training set once; a batch is then one gather (and an optional augmentation).
    train_x, train_y = prepare(splits.train_x, channels_last).to(device), splits.train_y.to(device)
    limit = epoch_images(len(train_x), config.epoch_fraction)
    steps = num_batches(limit, config.batch_size)
    optimizer, scheduler, per_batch = make_optimizer(config, model.parameters(), steps)
    params = count_params(model)
    ema = make_ema(model, config.ema_decay)
    scored = ema.module if ema is not None else model  # the weights that are validated, saved and tested

    run_dir = runs.create_run_dir(config.runs_dir, config.model, config.augment) if rank == 0 else None
    run_id = run_id or (run_dir.name.removesuffix(runs.RUNNING_SUFFIX) if run_dir else f"rank{rank}")
    resolved = {"device": str(device), "precision": precision, "threads": threads, "world_size": world,
                "torch": torch.__version__, "python": platform.python_version(),
                "synthetic_data": splits.synthetic, "train_images": len(splits.train_x)}
    if run_dir:
        runs.write_json(run_dir / "config.json", {**config.to_dict(), "resolved": resolved})
    report(ev.RunStarted(run_id, str(run_dir), config.model, config.augment, params, config.epochs, steps, str(device), precision))

    history: list[dict] = []
    kept = {"epoch": 0, "val_acc": 0.0}  # the epoch whose weights are kept (config.keep)
    lowest_val_loss = math.inf
    status, stale, started = "finished", 0, time.perf_counter()
    try:
        for epoch in range(1, config.epochs + 1):
            row = _train_epoch(trainable, optimizer, scheduler if per_batch else None, (train_x, train_y, limit),
                               config, (generator, aug_generator), channels_last, device, precision, epoch, steps,
                               run_id, report, stop, (rank, world), ema)
            if row is None:
                status = "cancelled"
                break
            if scheduler is not None and not per_batch:
                scheduler.step()
            val = evaluate(scored, splits.val_x, splits.val_y, device, precision, config.eval_batch_size, channels_last)
            row.update(val_loss=val.loss, val_acc=val.acc, seconds=time.perf_counter() - row.pop("_start"))
            history.append(row)
            improved = val.loss < lowest_val_loss
            if improved:
                lowest_val_loss, stale = val.loss, 0
            else:
                stale += 1
            if improved or config.keep == "last":
                kept = {"epoch": epoch, "val_acc": val.acc}
                if run_dir:
                    runs.save_checkpoint(run_dir / runs.CHECKPOINT, config.model, spec.args, scored.state_dict(),
                                         config.to_dict(), {"epoch": epoch, **{k: v for k, v in row.items()}}, (MEAN, STD))
            if run_dir:
                runs.write_metrics(run_dir, history)
            report(ev.EpochCompleted(run_id, epoch, config.epochs, row["train_loss"], row["train_acc"], val.loss,
                                     val.acc, row["lr"], row["seconds"], row["images_per_sec"], improved))
            if config.patience and stale >= config.patience and epoch < config.epochs:
                status = "stopped_early"
                break
            if _should_stop(stop, world, device):
                status = "cancelled"
                break
        return _finish(scored, config, splits, device, precision, channels_last, run_dir, run_id, status, kept,
                       history, params, started, report)
    except BaseException as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if run_dir:
            summary = _summary(config, params, history, kept, None, started, "failed", False)
            summary["reason"] = reason
            summary["traceback"] = traceback.format_exc(limit=8)
            runs.write_json(run_dir / "summary.json", summary)
            run_dir = runs.finalize(run_dir, "failed", None)
        report(ev.RunFailed(run_id, str(run_dir), reason))
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


def _train_epoch(model, optimizer, scheduler, data, config, generators, channels_last, device, precision, epoch,
                 steps, run_id, report, stop, shard, ema=None) -> dict | None:
    model.train()
    epoch_start = last_report = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    images, labels, limit = data
    batches = train_batches(images, labels, config.batch_size, generators[0], config.augment,
                            channels_last, device, shard, generators[1], limit=limit,
                            erase_p=config.erase_p, elastic=config.elastic,
                            strength=config.aug_strength)
    for batch, (x, y) in enumerate(batches, 1):
        with autocast(device, precision):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
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
        now = time.perf_counter()
        if now - last_report >= PROGRESS_INTERVAL or batch == steps:
            last_report = now
            rate = seen * shard[1] / max(now - epoch_start, 1e-9)
            remaining = (steps - batch) + steps * (config.epochs - epoch)
            eta = remaining * (now - epoch_start) / batch
            report(ev.BatchProgress(run_id, epoch, config.epochs, batch, steps, loss.item(), rate, eta))
        if _should_stop(stop, shard[1], device):
            return None
    elapsed = time.perf_counter() - epoch_start
    return {
        "epoch": epoch,
        "train_loss": (loss_sum / max(seen, 1)).item(),
        "train_acc": correct.item() / max(seen, 1),
        "lr": optimizer.param_groups[0]["lr"],
        "images_per_sec": seen * shard[1] / max(elapsed, 1e-9),
        "_start": epoch_start,
    }


def _should_stop(stop: StopFlag, world: int, device: torch.device) -> bool:
    """Under DDP every rank must stop at the same batch, so the ranks agree on the flag."""
    flag = stop.is_set()
    if world == 1:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return bool(tensor.item())


def _summary(config, params, history, kept, test_acc, started, status, stopped_early) -> dict:
    return {
        "model": config.model,
        "augment": config.augment,
        "params": params,
        "epochs": config.epochs,
        "epochs_run": len(history),
        "best_epoch": kept["epoch"] or None,  # the epoch whose weights were kept and tested
        "kept": config.keep,
        "val_acc": kept["val_acc"] if kept["epoch"] else None,
        "test_acc": test_acc,
        "train_seconds": round(time.perf_counter() - started, 3),
        "stopped_early": stopped_early,
        "status": status,
        "preset": config.preset or None,
        # Say so when the tested weights are an EMA or the test score averages shifted copies.
        "ema_decay": config.ema_decay or None,
        "tta": config.tta,
    }


def _finish(model, config, splits, device, precision, channels_last, run_dir, run_id, status, kept, history, params,
            started, report) -> RunResult:
    stopped_early = status == "stopped_early"
    status = "finished" if stopped_early else status
    test_acc = None
    # The kept weights (best validation loss, or the last epoch's) are the ones that get tested. A
    # cancelled run skips the test pass so its process exits at once; `mnist-tui evaluate` (or Results)
    # scores its checkpoint on demand.
    if status != "cancelled" and run_dir and (run_dir / runs.CHECKPOINT).exists():
        best_model, _ = runs.load_checkpoint(run_dir, str(device))
        best_model = best_model.to(memory_format=torch.channels_last) if channels_last else best_model
        test = evaluate(best_model, splits.test_x, splits.test_y, device, precision, config.eval_batch_size, channels_last,
                        tta=config.tta)
        test_acc = test.acc
        labels = splits.test_y.numpy()
        runs.write_json(run_dir / "confusion.json", {
            "labels": list(range(10)),
            "counts": confusion(labels, test.predictions).tolist(),
            "per_class": per_class(labels, test.predictions),
            "test_loss": test.loss,
            "test_acc": test.acc,
        })
        model = best_model
    summary = _summary(config, params, history, kept, test_acc, started, status, stopped_early)
    if run_dir:
        runs.write_json(run_dir / "summary.json", summary)
        run_dir = runs.finalize(run_dir, status, test_acc)
    report(ev.RunFinished(run_id, str(run_dir), status, summary))
    return RunResult(run_dir, status, summary, history, model)
