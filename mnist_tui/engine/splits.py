"""The fixed train/validation split of MNIST's training images, and the test set, in memory."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_tui.engine.data import default_data_dir, load_arrays, raw_dir
from mnist_tui.engine.idx import DataError

VAL_FRACTION = 0.1


SPLIT_SEED = 0  # fixed, so train/val are the same in every run


def split_indices(n: int, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed 90/10 split of the official training set: 54,000 / 6,000 for MNIST."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@dataclass(frozen=True)
class Splits:
    """uint8 torch tensors: images (n, 28, 28), labels int64 (n,)."""

    train_x: object
    train_y: object
    val_x: object
    val_y: object
    test_x: object
    test_y: object
    synthetic: bool = False


def train_split_size(data_dir: Path | str | None = None) -> int | None:
    """Images in the training split (54,000 for MNIST), from the label file's header alone: no torch, no
    loading, so a form can check a train subset at once. None when the file is missing or unreadable."""
    path = raw_dir(data_dir or default_data_dir()) / "train-labels-idx1-ubyte"
    try:
        with open(path, "rb") as handle:
            header = handle.read(8)
    except OSError:
        return None
    if len(header) < 8 or header[:4] != b"\x00\x00\x08\x01":
        return None
    total = struct.unpack(">I", header[4:])[0]
    return total - int(round(total * VAL_FRACTION))


def check_train_subset(train_subset: int, data_dir: Path | str | None = None, size: int | None = None) -> None:
    """DataError, naming the maximum, when `train_subset` is more images than the training split holds."""
    size = train_split_size(data_dir) if size is None else size
    if train_subset and size is not None and train_subset > size:
        raise DataError(
            f"train subset {train_subset:,} is larger than the training split of "
            f"{raw_dir(data_dir or default_data_dir())}: give at most {size:,} images (or 0 for all)"
        )


def load_splits(data_dir: Path | str | None = None, train_subset: int | None = None) -> Splits:
    import torch

    arrays = load_arrays(data_dir)
    train_idx, val_idx = split_indices(len(arrays.train_images))
    if train_subset:
        check_train_subset(train_subset, data_dir, len(train_idx))
        train_idx = train_idx[:train_subset]
    as_x = lambda a: torch.from_numpy(np.array(a, dtype=np.uint8))
    as_y = lambda a: torch.from_numpy(a.astype(np.int64))
    return Splits(
        as_x(arrays.train_images[train_idx]),
        as_y(arrays.train_labels[train_idx]),
        as_x(arrays.train_images[val_idx]),
        as_y(arrays.train_labels[val_idx]),
        as_x(arrays.test_images),
        as_y(arrays.test_labels),
        synthetic=arrays.synthetic,
    )


TRAIN_IMAGES = 60_000 - round(60_000 * VAL_FRACTION)  # MNIST's training images after the validation hold-out


def split_size(data_dir) -> int:
    """The training split of the data the app uses (its label file's header), else MNIST's."""
    return train_split_size(data_dir) or TRAIN_IMAGES
