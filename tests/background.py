"""A `mnist-tui train` started in the background, as from another terminal, for tests that stop, watch or attach."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live


def train_in_background(synthetic_dir, runs_dir, *extra: str, model: str = "1-layer", **popen) -> subprocess.Popen:
    """A long run (5000 epochs, no early stopping) that only the test ends; returned once epoch 1 is logged."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "train", "--model", model, "--epochs", "5000", "--patience", "0",
         "--threads", "1", "--data-dir", str(synthetic_dir), "--runs-dir", str(runs_dir), *extra],
        **popen,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        folder = next(iter(Path(runs_dir).glob("*_running")), None)
        if folder and any(isinstance(e, ev.EpochCompleted) for e in live.read_events(folder)[0]):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("no epoch within 120 s")
