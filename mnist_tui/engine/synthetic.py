"""Small synthetic MNIST-like data for tests and demos, marked as such with its own checksums."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from mnist_tui.common.fileio import write_atomic
from mnist_tui.engine.data import SYNTHETIC_MANIFEST, raw_dir
from mnist_tui.engine.idx import encode_idx


def write_synthetic(data_dir: Path | str, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """Write a small, learnable MNIST look-alike (a bar per class) in the same IDX layout.

    Tests and demos use it; a manifest marks it as synthetic so it is never mistaken for MNIST.
    """
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.float32)
        for i, label in enumerate(labels):
            row = 3 + 2 * label
            col = rng.integers(2, 12)
            images[i, row : row + 3, col : col + 14] = 255  # a horizontal bar whose height encodes the class
        return images.clip(0, 255).astype(np.uint8), labels.astype(np.uint8)

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    root = raw_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": train_y,
        "t10k-images-idx3-ubyte": test_x,
        "t10k-labels-idx1-ubyte": test_y,
    }
    md5 = {}
    for name, array in arrays.items():
        blob = encode_idx(array)
        write_atomic(root / name, blob)
        md5[name] = hashlib.md5(blob).hexdigest()
    write_atomic(root / SYNTHETIC_MANIFEST, json.dumps({"md5": md5, "note": "synthetic test data"}).encode())
    return root
