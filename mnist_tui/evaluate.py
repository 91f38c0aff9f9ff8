"""Evaluation: loss and accuracy in inference mode, confusion matrix and per-class scores (scikit-learn)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from .batches import MEAN, STD, to_input
from .console import pct
from .device import autocast

# Inference batch: on a CPU, 256 images keep the activations in cache; 1,000 ran 2.4x slower here.
EVAL_BATCH = 256


@dataclass(frozen=True)
class Metrics:
    loss: float
    acc: float
    predictions: np.ndarray  # int64 (n,)


# Test-time augmentation: the image itself and one-pixel shifts (dy, dx), with logits averaged.
TTA_SHIFTS = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0))


def _shift(x: torch.Tensor, dy: int, dx: int, background: float) -> torch.Tensor:
    """Shift a normalised batch by whole pixels, filling with the background (black after normalisation)."""
    if not (dy or dx):
        return x
    out = torch.full_like(x, background)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def inference_model(model: torch.nn.Module) -> torch.nn.Module:
    """An eval-mode copy with each BatchNorm folded into the conv or linear layer before it in an
    `nn.Sequential`: the same logits up to rounding, and 1.7x faster here, since a BN pass over every
    activation disappears. A model with nothing to fold is returned as it is.

    The pairs are found by walking the modules, not by a torch.fx trace (`fuse`): a trace patches
    `nn.Module.__call__` for every thread while it runs, so a forward pass in another thread (the app
    predicts in worker threads) failed with "module is not installed as a submodule"."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    def pairs(root: torch.nn.Module):
        for seq in root.modules():
            if isinstance(seq, torch.nn.Sequential):
                for i in range(len(seq) - 1):
                    if type(seq[i + 1]) in FOLDS.get(type(seq[i]), ()) and seq[i + 1].track_running_stats:
                        yield seq, i

    if next(pairs(model), None) is None:
        return model
    was_training = model.training
    model.eval()
    try:
        folded = copy.deepcopy(model)
    finally:
        model.train(was_training)
    for seq, i in list(pairs(folded)):
        layer, bn = seq[i], seq[i + 1]
        fuse = fuse_linear_bn_eval if isinstance(layer, torch.nn.Linear) else fuse_conv_bn_eval
        seq[i], seq[i + 1] = fuse(layer, bn), torch.nn.Identity()
    return folded


FOLDS = {  # layer -> the BatchNorm that can fold into it
    torch.nn.Conv1d: (torch.nn.BatchNorm1d,),
    torch.nn.Conv2d: (torch.nn.BatchNorm2d,),
    torch.nn.Conv3d: (torch.nn.BatchNorm3d,),
    torch.nn.Linear: (torch.nn.BatchNorm1d,),
}


@torch.inference_mode()
def predict_logits(
    model,
    images: torch.Tensor,
    device: torch.device | None = None,
    precision: str = "fp32",
    batch_size: int = EVAL_BATCH,
    channels_last: bool = False,
    tta: bool = False,
    normalization: tuple[float, float] = (MEAN, STD),
) -> torch.Tensor:
    """Logits (n, 10) in fp32 for uint8 images (n, 28, 28), in large batches; `tta` averages shifted copies.

    Outside training, call `inference.run_logits` instead: it reads these settings back from the run."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    fused = inference_model(model)
    outputs = []
    background = (0.0 - normalization[0]) / normalization[1]
    with autocast(device, precision):
        for start in range(0, len(images), batch_size):
            x = to_input(images[start : start + batch_size], channels_last, normalization).to(device)
            if tta:
                logits = sum(fused(_shift(x, dy, dx, background)).float() for dy, dx in TTA_SHIFTS) / len(TTA_SHIFTS)
            else:
                logits = fused(x).float()
            outputs.append(logits.cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, 10)


def evaluate(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device | None = None,
    precision: str = "fp32",
    batch_size: int = EVAL_BATCH,
    channels_last: bool = False,
    tta: bool = False,
) -> Metrics:
    return score(predict_logits(model, images, device, precision, batch_size, channels_last, tta), labels)


def score(scores: torch.Tensor, labels: torch.Tensor) -> Metrics:
    """Loss, accuracy and predictions from logits or log-probabilities (cross-entropy treats both alike)."""
    loss = F.cross_entropy(scores, labels).item() if len(labels) else 0.0
    predictions = scores.argmax(1)
    acc = (predictions == labels).float().mean().item() if len(labels) else 0.0
    return Metrics(loss, acc, predictions.numpy())


def confusion(labels, predictions) -> np.ndarray:
    return confusion_matrix(np.asarray(labels), np.asarray(predictions), labels=list(range(10)))


def row_percentages(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix * 100.0, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)


def per_class(labels, predictions) -> dict[str, list[float]]:
    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(labels), np.asarray(predictions), labels=list(range(10)), zero_division=0
    )
    return {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(), "support": support.tolist()}


def worst_confusions(matrix: np.ndarray, k: int = 3) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (true, predicted, count)."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(off, axis=None)[::-1][:k]
    return [(int(i // 10), int(i % 10), int(off.flat[i])) for i in flat if off.flat[i] > 0]


@dataclass(frozen=True)
class Report:
    test_acc: float
    test_loss: float
    confusion: np.ndarray
    per_class: dict
    labels: np.ndarray
    predictions: np.ndarray


def _report(metrics: Metrics, labels: torch.Tensor) -> Report:
    truth = labels.numpy()
    return Report(
        metrics.acc,
        metrics.loss,
        confusion(truth, metrics.predictions),
        per_class(truth, metrics.predictions),
        truth,
        metrics.predictions,
    )


def evaluate_run(run_dir, data_dir=None, device: str = "cpu") -> Report:
    """Load a run's kept checkpoint and score it on the test set exactly as it was scored when it finished."""
    from .data import load_splits
    from .inference import load_run, run_logits

    run = load_run(run_dir, device)
    splits = load_splits(data_dir or run.checkpoint.get("config", {}).get("data_dir") or None)
    return _report(score(run_logits(run, splits.test_x), splits.test_y), splits.test_y)


@dataclass(frozen=True)
class Recorded:
    """What a run's own files say about its test score: the accuracy, if any, and the run's status and reason."""

    test_acc: float | None
    status: str  # a runs.Status value; "unreadable" when summary.json cannot be read
    reason: str | None = None


def recorded_score(run_dir) -> Recorded:
    """The recorded test accuracy with the status that explains its absence (a running folder whose writer is
    gone counts as interrupted, as every viewer sees it)."""
    from .runs import SUMMARY, Status, read_run, read_summary

    try:
        summary = read_summary(Path(run_dir))
    except (OSError, ValueError) as error:
        reason = str(error) if isinstance(error, ValueError) else f"{SUMMARY}: {error.strerror or error}"
        return Recorded(None, Status.UNREADABLE.value, reason)
    info = read_run(Path(run_dir))
    if info is not None and info.status != Status.UNREADABLE:
        status, reason = str(info.status), info.reason
    elif summary is not None:
        status, reason = summary.status, summary.reason
    else:
        status, reason = Status.INTERRUPTED.value, "the run ended without a summary"
    test_acc = summary.test_acc if summary is not None else None
    return Recorded(float(test_acc) if test_acc is not None else None, status, reason)


def evaluate_ensemble(run_dirs, data_dir=None, device: str = "cpu") -> tuple[list[Metrics], Report]:
    """Each run's test metrics, and the ensemble of them all: the mean of their softmax probabilities.

    Every member is scored as it was when it finished, on the test set of `data_dir` (or the first
    run's data folder), so the members and the ensemble see the same images."""
    from .data import load_splits
    from .inference import load_run, run_logits
    from .runs import RunError

    paths = [Path(p).resolve() for p in run_dirs]
    if len(paths) < 2:
        raise RunError("an ensemble needs at least two runs")
    if len(set(paths)) < len(paths):
        raise RunError("the same run is listed twice; an ensemble needs different runs")
    loaded = [load_run(p, device) for p in paths]  # every checkpoint is checked before any scoring
    splits = load_splits(data_dir or loaded[0].checkpoint.get("config", {}).get("data_dir") or None)
    members = [run_logits(run, splits.test_x) for run in loaded]
    probs = torch.stack([m.softmax(1) for m in members]).mean(0)
    ensemble = _report(score(torch.log(probs.clamp_min(1e-12)), splits.test_y), splits.test_y)
    return [score(m, splits.test_y) for m in members], ensemble


def agreement_line(test_acc: float, recorded: Recorded) -> str:
    """Whether a fresh score reproduces the one recorded in summary.json, in one line; if there is none, why."""
    if recorded.test_acc is None:
        from .runs import why_untested

        why = why_untested(recorded.status, recorded.reason)
        if recorded.status == "unreadable":
            return (
                f"the run's recorded test accuracy is unknown ({why}), so there is nothing to compare this score with"
            )
        return f"the run recorded no test accuracy ({why}), so this is the first"
    if test_acc == recorded.test_acc:
        return f"matches the test accuracy recorded in summary.json exactly ({pct(recorded.test_acc)})"
    return (
        f"differs from the {pct(recorded.test_acc, 4)} recorded in summary.json by "
        f"{(test_acc - recorded.test_acc) * 100:+.4f} points: the run was tested on another device, data folder "
        "or torch build"
    )
