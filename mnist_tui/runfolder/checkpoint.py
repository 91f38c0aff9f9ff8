"""Self-describing checkpoints: saved with what rebuilds the model, loaded with weights_only."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.common.fileio import write_atomic
from mnist_tui.runfolder.record import CHECKPOINT, RunError

# torch.load's hint about a file it cannot unpickle would print before our one-line error. Set once for the
# process, at import: `warnings.catch_warnings` around each load is not thread-safe, and the app loads
# checkpoints in worker threads.
warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)


@dataclass(frozen=True)
class Checkpoint:
    """What a kept epoch's checkpoint holds, handed from the trainer to the recorder that writes it."""

    model_name: str
    model_args: dict
    state_dict: dict
    config: dict
    metrics: dict  # the epoch's row of metrics.csv
    normalization: tuple[float, float]  # (mean, std) of the inputs the weights expect

    def save(self, path: Path, *, parents: bool = True) -> None:
        save_checkpoint(
            path,
            self.model_name,
            self.model_args,
            self.state_dict,
            self.config,
            self.metrics,
            self.normalization,
            parents=parents,
        )


def save_checkpoint(
    path: Path,
    model_name: str,
    model_args: dict,
    state_dict: dict,
    config: dict,
    metrics: dict,
    normalization: tuple[float, float],
    *,
    parents: bool = True,
) -> None:
    """A self-describing checkpoint, written atomically so a loader never sees half of one."""
    import torch

    payload = {
        "model_name": model_name,
        "model_args": {k: list(v) if isinstance(v, tuple) else v for k, v in model_args.items()},
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "normalization": {"mean": normalization[0], "std": normalization[1]},
        "config": config,
        "metrics": metrics,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(Path(path), buffer.getvalue(), parents=parents)


def load_checkpoint(path: Path | str, device: str = "cpu"):
    """Rebuild the model from the registry and load its weights. Returns (model, checkpoint dict)."""
    import torch

    from mnist_tui.engine.models import check_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise RunError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is one message for the user
        raise RunError(f"{path} is not a readable checkpoint ({type(error).__name__})") from None
    try:
        spec, args = check_checkpoint(checkpoint)
    except (ValueError, KeyError) as error:  # KeyError: UnknownModel
        raise RunError(f"{path} is not a usable checkpoint: {error}") from None
    model = spec.build(**args)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise RunError(
            f"{path}: the weights do not match the {checkpoint['model_name']} architecture ({first})"
        ) from None
    model.to(device).eval()
    return model, checkpoint
