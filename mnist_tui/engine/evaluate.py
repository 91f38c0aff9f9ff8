"""Evaluation: loss and accuracy in inference mode, confusion matrix and per-class scores (scikit-learn)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from mnist_tui.engine.batches import MEAN, STD, to_input
from mnist_tui.engine.device import autocast

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
