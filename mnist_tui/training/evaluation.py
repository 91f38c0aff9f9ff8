"""Whole-run scoring: a run's test score as it was recorded, scored again, or as an ensemble."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnist_tui.common.text import pct
from mnist_tui.engine.evaluate import Metrics, confusion, per_class, score
from mnist_tui.runfolder.status import Status


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
    from mnist_tui.engine.splits import load_splits
    from mnist_tui.training.inference import load_run, run_logits

    run = load_run(run_dir, device)
    splits = load_splits(data_dir or run.checkpoint.get("config", {}).get("data_dir") or None)
    return _report(score(run_logits(run, splits.test_x), splits.test_y), splits.test_y)


@dataclass(frozen=True)
class Recorded:
    """What a run's own files say about its test score: the accuracy, if any, and the run's status and reason."""

    test_acc: float | None
    status: str  # a Status value; unreadable when summary.json cannot be read
    reason: str | None = None


def recorded_score(run_dir) -> Recorded:
    """The recorded test accuracy with the status that explains its absence (a running folder whose writer is
    gone counts as interrupted, as every viewer sees it)."""
    from mnist_tui.runfolder.record import SUMMARY, read_summary
    from mnist_tui.runfolder.runs import read_run
    from mnist_tui.runfolder.status import Status

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
    from mnist_tui.engine.splits import load_splits
    from mnist_tui.runfolder.record import RunError
    from mnist_tui.training.inference import load_run, run_logits

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
        from mnist_tui.runfolder.status import why_untested

        why = why_untested(recorded.status, recorded.reason)
        if recorded.status == Status.UNREADABLE:
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
