"""In-memory batches: the dataset normalised once into floats, shuffled per epoch, augmented on the fly."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .augment import ERASE_P
from .augment import augment as augment_batch

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


def train_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    augment: bool = False,
    channels_last: bool = False,
    device: torch.device | None = None,
    shard: tuple[int, int] = (0, 1),
    aug_generator: torch.Generator | None = None,
    limit: int = 0,
    erase_p: float = ERASE_P,
    elastic: float = 0.0,
    strength: float = 1.0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled batches. `shard=(rank, world)` gives each rank its slice of every batch.

    `images` is uint8 (n, 28, 28), converted per batch, or the output of `prepare`, which makes a batch
    a single gather. `generator` orders the batches and must be seeded alike on every rank; augmentation
    draws from `aug_generator` (per rank), so uneven shards never make the ranks' orders drift apart.
    `limit` > 0 stops after that many images: a fraction of an epoch, drawn at random from all of it.
    `erase_p` is the per-image probability of random erasing when augmenting, `elastic` the largest
    elastic displacement in pixels (0: none), `strength` the scale of the affine ranges (1: ±10°, ±10%, 0.9-1.1).
    """
    order = torch.randperm(len(images), generator=generator)
    if limit:
        order = order[:limit]
    rank, world = shard
    prepared = images.dtype != torch.uint8
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if world > 1:
            idx = idx[rank::world]
        if prepared:
            x = images[idx]
            if augment:
                # Augment with black = 0, as in [0, 1] space: shift, transform, shift back (all in place).
                x = augment_batch(x.sub_(BACKGROUND), aug_generator or generator, erase_p, elastic, strength).add_(
                    BACKGROUND
                )
        else:
            x = images[idx].float().div_(255.0).unsqueeze(1)
            if augment:
                x = augment_batch(x, aug_generator or generator, erase_p, elastic, strength)
            x = to_input(x, channels_last)
        y = labels[idx]
        if device is not None and device.type != "cpu":
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        yield x, y


def num_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size
