"""The one inference path: logits from a recorded run, computed as its test score was (precision, TTA,
normalisation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnist_tui.engine.batches import MEAN, STD
from mnist_tui.engine.evaluate import EVAL_BATCH, predict_logits


@dataclass(frozen=True)
class Recipe:
    """How a run's test pass computed its logits; every reader of the run uses the same."""

    precision: str = "fp32"  # fp32 | bf16: the precision the run resolved to and tested in
    tta: bool = False  # averaged over the image and one-pixel shifts of it
    normalization: tuple[float, float] = (MEAN, STD)  # (mean, std) the checkpoint recorded
    batch_size: int = EVAL_BATCH  # the test pass's batch, so kernels (and their rounding) are the same
    channels_last: bool = False


@dataclass(frozen=True)
class RunModel:
    model: torch.nn.Module  # in eval mode
    checkpoint: dict
    run_dir: Path | None
    recipe: Recipe

    @property
    def name(self) -> str:
        return self.checkpoint.get("model_name", "?")


def recipe_of(checkpoint: dict, run_dir: Path | None = None) -> Recipe:
    """Read the checkpoint's normalisation and config back, and the precision config.json says it resolved to."""
    from mnist_tui.common.fileio import read_json

    config = dict(checkpoint.get("config") or {})
    resolved = read_json(Path(run_dir) / "config.json").get("resolved", {}) if run_dir else {}
    precision = resolved.get("precision") or config.get("precision") or "fp32"
    if precision == "auto":  # recorded before runs saved what auto chose: what it chooses here, if known
        from mnist_tui.engine.device import pick_precision

        # Never the one-second probe: a loader may run on a UI thread. Without a cached probe, fp32.
        precision = pick_precision("auto", torch.device("cpu"), measure=False)
    norm = checkpoint.get("normalization") or {}
    device = str(resolved.get("device", "cpu"))
    return Recipe(
        precision=precision,
        tta=bool(config.get("tta", False)),
        normalization=(float(norm.get("mean", MEAN)), float(norm.get("std", STD))),
        batch_size=int(config.get("eval_batch_size") or EVAL_BATCH),
        channels_last=bool(config.get("channels_last", False)) and not device.startswith("mps"),
    )


def load_run(run_dir: Path | str, device: str = "cpu") -> RunModel:
    """A run's kept checkpoint with the recipe it was tested with."""
    from mnist_tui.runfolder.checkpoint import load_checkpoint

    model, checkpoint = load_checkpoint(run_dir, device)
    run_dir = Path(run_dir)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    recipe = recipe_of(checkpoint, run_dir)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return RunModel(model, checkpoint, run_dir, recipe)


def as_run(model, checkpoint: dict | None = None) -> RunModel:
    """A bare model (a test's, or one trained in this process) as a run with the default recipe."""
    if isinstance(model, RunModel):
        return model
    recipe = recipe_of(checkpoint) if checkpoint else Recipe()
    return RunModel(model, checkpoint or {}, None, recipe)


def run_logits(run: RunModel, images) -> torch.Tensor:
    """Logits (n, 10) in fp32 for images (n, 28, 28): uint8, or float in [0, 1]. The only way to get them."""
    x = images if torch.is_tensor(images) else torch.from_numpy(np.ascontiguousarray(images))
    if x.dtype != torch.uint8:
        x = x.float().reshape(-1, 1, 28, 28)
    r = run.recipe
    return predict_logits(run.model, x, None, r.precision, r.batch_size, r.channels_last, r.tta, r.normalization)


def run_probs(run: RunModel, images) -> np.ndarray:
    """Softmax probabilities (n, 10) as float32 numpy, through `run_logits`."""
    return torch.softmax(run_logits(run, images), 1).numpy().astype(np.float32)
