"""In-memory batches: the dataset normalised once into floats, shuffled per epoch, augmented on the fly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from mnist_tui.engine.augment import ERASE_P
from mnist_tui.engine.augment import augment as augment_batch

MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std
BACKGROUND = (0.0 - MEAN) / STD  # a black pixel after normalisation


def to_input(
    images: torch.Tensor, channels_last: bool = False, normalization: tuple[float, float] = (MEAN, STD)
) -> torch.Tensor:
    """uint8 (n, 28, 28) or float in [0, 1] (n, 1, 28, 28) -> normalised float (n, 1, 28, 28)."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    x = x.reshape(-1, 1, 28, 28)
    mean, std = normalization
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def prepare(images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """The whole uint8 set normalised once (about 170 MB for 54,000 images), so a batch is one gather."""
    return to_input(images, channels_last) if images.dtype == torch.uint8 else images


@dataclass(frozen=True)
class BatchSpec:
    """How a run draws its training batches; the same every epoch."""

    batch_size: int
    augment: bool = False
    erase_p: float = ERASE_P  # per-image probability of random erasing when augmenting
    elastic: float = 0.0  # largest elastic displacement in pixels (0: none)
    strength: float = 1.0  # scale of the affine ranges (1: ±10°, ±10%, 0.9-1.1)
    limit: int = 0  # > 0: stop after this many images, a fraction of the epoch drawn at random from all of it
    channels_last: bool = False
    device: torch.device | None = None  # where the batches go (None: stay where the images are)
    shard: tuple[int, int] = (0, 1)  # (rank, world): each rank takes its slice of every batch


def train_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    spec: BatchSpec,
    generator: torch.Generator,
    aug_generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled batches, drawn as `spec` says.

    `images` is uint8 (n, 28, 28), converted per batch, or the output of `prepare`, which makes a batch
    a single gather. `generator` orders the batches and must be seeded alike on every rank; augmentation
    draws from `aug_generator` (per rank), so uneven shards never make the ranks' orders drift apart.
    """
    order = torch.randperm(len(images), generator=generator)
    if spec.limit:
        order = order[: spec.limit]
    rank, world = spec.shard
    prepared = images.dtype != torch.uint8
    for start in range(0, len(order), spec.batch_size):
        idx = order[start : start + spec.batch_size]
        if world > 1:
            idx = idx[rank::world]
        if prepared:
            x = images[idx]
            if spec.augment:
                # Augment with black = 0, as in [0, 1] space: shift, transform, shift back (all in place).
                x = augment_batch(
                    x.sub_(BACKGROUND), aug_generator or generator, spec.erase_p, spec.elastic, spec.strength
                ).add_(BACKGROUND)
        else:
            x = images[idx].float().div_(255.0).unsqueeze(1)
            if spec.augment:
                x = augment_batch(x, aug_generator or generator, spec.erase_p, spec.elastic, spec.strength)
            x = to_input(x, spec.channels_last)
        y = labels[idx]
        if spec.device is not None and spec.device.type != "cpu":
            x, y = x.to(spec.device, non_blocking=True), y.to(spec.device, non_blocking=True)
        yield x, y


def num_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size
