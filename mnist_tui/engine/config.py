"""Training configuration: a frozen dataclass with literal defaults, and the named presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    model: str = "3-layer"
    augment: bool = False
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3  # peak learning rate of the OneCycle schedule
    optimizer: str = "adam"  # adam | adamw | sgd
    schedule: str = "onecycle"  # onecycle | step | constant
    step_size: int = 10  # StepLR: epochs between decays
    gamma: float = 0.5  # StepLR: decay factor
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    patience: int = 5  # early stopping: epochs without a better validation loss
    keep: str = "best"  # the weights saved and tested: best (lowest validation loss) | last (end of the schedule)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto | fp32 | bf16
    threads: int = 0  # 0: all cores
    channels_last: bool = True
    train_subset: int = 0  # 0: all 54,000 training images
    eval_batch_size: int = 256  # validation and test batches: small enough to stay in the CPU cache
    data_dir: str = ""  # "": MNIST_TUI_DATA or the user cache dir
    runs_dir: str = "runs"
    preset: str = ""  # the preset this config started from, if any
    erase_p: float = 0.5  # with augment: probability of random erasing per image (0: rotate/shift/scale only)
    aug_strength: float = 1.0  # with augment: scales the rotate/shift/zoom ranges (1: ±10°, ±10%, 0.9-1.1)
    elastic: float = 0.0  # with augment: largest elastic displacement in pixels along each axis (0: off)
    epoch_fraction: float = 1.0  # images per epoch as a fraction of the training set, drawn at random
    ema_decay: float = 0.0  # exponential moving average of the weights, 0: off (the EMA is what gets tested)
    tta: bool = False  # test-time augmentation: average logits over the image and small shifts of it
    experiment: str = ""  # the experiment this run is a trial of ("": none)
    trial: int = -1  # its trial number in that experiment (-1: none)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def validate(self) -> TrainConfig:
        """Raise ValueError with one clear line for a value that cannot work."""
        from mnist_tui.engine.models import get_spec

        get_spec(self.model)
        for field in dataclasses.fields(self):  # inf and nan pass every comparison below that they should fail
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{field.name.replace('_', ' ')} must be a finite number, not {value}")
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.lr > 0, "learning rate must be positive"),
            (self.patience >= 0, "patience must be 0 (off) or more"),
            (self.threads >= 0, "threads must be 0 (all) or more"),
            (self.train_subset >= 0, "train subset must be 0 (all) or more"),
            (0 <= self.erase_p <= 1, "erase probability must be in [0, 1]"),
            (0 < self.aug_strength <= 2, "augmentation strength must be in (0, 2]"),
            (0 <= self.elastic <= 4, "elastic displacement must be 0 (off) to 4 pixels"),
            (0 < self.epoch_fraction <= 1, "epoch fraction must be in (0, 1]"),
            (0 <= self.ema_decay < 1, "EMA decay must be in [0, 1)"),
            (self.optimizer in ("adam", "adamw", "sgd"), f"unknown optimizer {self.optimizer!r}"),
            (self.schedule in ("onecycle", "step", "constant"), f"unknown schedule {self.schedule!r}"),
            (self.keep in ("best", "last"), f"unknown keep {self.keep!r}; choose best or last"),
            (self.device in ("auto", "cpu", "cuda", "mps"), f"unknown device {self.device!r}"),
            (self.precision in ("auto", "fp32", "bf16"), f"unknown precision {self.precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self


# Recipes; each is recorded in config.json through the fields it sets. patience 0: OneCycle must finish
# its anneal, so early stopping is off. Measurements behind each value: docs/performance.md.
PRESETS: dict[str, dict] = {
    # 99% from 0.6 of an epoch: in-memory batches, OneCycle, bf16 where it is native and faster. Batch 64
    # learns more per image than 128, and label smoothing with a higher peak lr more again, which is what
    # lets a fraction of an epoch reach 99%.
    "fast": {
        "model": "3-layer",
        "epochs": 1,
        "epoch_fraction": 0.6,
        "batch_size": 64,
        "lr": 7e-3,
        "label_smoothing": 0.1,
        "augment": False,
        "precision": "auto",
        "patience": 0,
    },
    # The same model with batched rotate/shift/scale augmentation, long enough for it to pay. No random
    # erasing and no elastic distortion: both made this model worse. Batch 64 takes twice the steps of 128
    # for the same images, which helped; 32 did not.
    "accurate": {
        "model": "3-layer",
        "epochs": 15,
        "batch_size": 64,
        "lr": 2e-3,
        "augment": True,
        "erase_p": 0.0,
        "precision": "auto",
        "patience": 0,
    },
    # Longer still, testing an EMA of the weights with test-time augmentation (both recorded in the summary).
    # Label smoothing helps here, with the EMA, though not in `accurate`.
    "best": {
        "model": "3-layer",
        "epochs": 20,
        "batch_size": 64,
        "lr": 2e-3,
        "augment": True,
        "erase_p": 0.0,
        "label_smoothing": 0.1,
        "precision": "auto",
        "patience": 0,
        "ema_decay": 0.999,
        "tta": True,
    },
    # Under 8,000 parameters; a small model takes a higher learning rate.
    "compact": {
        "model": "compact",
        "epochs": 15,
        "batch_size": 128,
        "lr": 6e-3,
        "augment": True,
        "erase_p": 0.0,
        "precision": "auto",
        "patience": 0,
    },
}


def make_config(model: str | None = None, preset: str | None = None, **overrides) -> TrainConfig:
    """Defaults, then the model's published recipe, then a preset, then explicit overrides."""
    from mnist_tui.engine.models import get_spec

    values: dict = {}
    if preset:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        values.update(PRESETS[preset], preset=preset)
    if model:
        values["model"] = model
    name = values.get("model", TrainConfig.model)
    merged = {**get_spec(name).train_defaults, **values}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:  # a typo in a preset, a model's defaults or an override must not pass unnoticed
        raise ValueError(f"unknown training setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    return TrainConfig.from_dict(merged).validate()
