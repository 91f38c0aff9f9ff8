"""Folding BatchNorm for inference leaves the other threads' models alone (the app predicts in workers)."""

from __future__ import annotations

import threading

import torch

from mnist_tui.engine.evaluate import inference_model
from mnist_tui.engine.models import build_model

FOLDS = 100  # a torch.fx trace broke a concurrent pass within a few dozen folds, most times


def test_folding_in_one_thread_does_not_break_a_forward_pass_in_another():
    """A torch.fx trace patched nn.Module.__call__ for every thread while it ran, and a forward pass in
    another thread failed with "module is not installed as a submodule"."""
    folded, other = build_model("3-layer").eval(), build_model("1-layer").eval()
    x = torch.randn(4, 1, 28, 28)
    folds = 0
    done = threading.Event()

    def fold() -> None:
        nonlocal folds
        while not done.is_set() and folds < FOLDS:
            inference_model(folded)
            folds += 1

    folding = threading.Thread(target=fold)
    folding.start()
    try:
        with torch.inference_mode():
            while folding.is_alive():
                other(x)
    finally:
        done.set()
        folding.join()
    assert folds == FOLDS
