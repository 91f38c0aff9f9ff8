"""Snapshot tests for the screens whose look matters (pytest-textual-snapshot; update with --snapshot-update)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from screen import screen_text, settle_screen

from mnist_tui.app.app import make_app
from mnist_tui.engine.synthetic import write_synthetic
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder.record import Summary

# Fixed paths: the screens show them, and a snapshot must not depend on pytest's tmp names.
SNAP_ROOT = Path(tempfile.gettempdir()) / "mnist-tui-snapshots"


@pytest.fixture(scope="module")
def snap_data() -> Path:
    root = SNAP_ROOT / "data"
    write_synthetic(root, n_train=1000, n_test=200)
    return root


@pytest.fixture
def snap_runs() -> Path:
    """A fresh runs folder at a fixed path: the menu shows it."""
    root = SNAP_ROOT / "runs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def finished_run_events(run_id="run1-3-layer", epochs=3):
    yield ev.RunStarted(
        run_id, "runs/20261122-031500_3-layer_running", "3-layer", False, 104426, epochs, 422, "cpu", "bf16"
    )
    for epoch in range(1, epochs + 1):
        yield ev.BatchProgress(run_id, epoch, epochs, 422, 422, 0.05 / epoch, 9000.0, 0.0)
        yield ev.EpochCompleted(
            run_id,
            epoch,
            epochs,
            0.3 / epoch,
            0.9 + 0.03 * epoch,
            0.06 / epoch,
            0.975 + 0.005 * epoch,
            1e-3,
            6.0,
            9000.0,
            True,
        )
    yield ev.RunFinished(
        run_id,
        "runs/20261122-031500_3-layer_acc99.21",
        "finished",
        Summary(test_acc=0.9921, val_acc=0.99, epochs_run=epochs, status="finished"),
    )


def two_runs_events():
    """A finished 1-layer run (test 97.95%) and a 3-layer run in its second epoch: every figure fixed, so a
    dashboard of them looks the same on every machine while showing what a live run shows."""
    yield ev.RunStarted("run0", "runs/20261122-031000_1-layer_running", "1-layer", False, 63082, 1, 422, "cpu", "fp32")
    yield ev.BatchProgress("run0", 1, 1, 422, 422, 0.09, 15000.0, 0.0, 0.97)
    yield ev.EpochCompleted("run0", 1, 1, 0.2112, 0.9391, 0.0831, 0.9762, 1e-3, 3.6, 15000.0, True)
    yield ev.RunFinished(
        "run0",
        "runs/20261122-031000_1-layer_acc97.95",
        "finished",
        Summary(test_acc=0.9795, val_acc=0.9762, epochs_run=1, status="finished"),
    )
    yield ev.RunStarted("run1", "runs/20261122-031500_3-layer_running", "3-layer", False, 104426, 3, 422, "cpu", "fp32")
    for batch in range(20, 423, 20):
        yield ev.BatchProgress("run1", 1, 3, batch, 422, 0.6 / (1 + batch / 40), 9000.0, 120.0, 0.9)
    yield ev.EpochCompleted("run1", 1, 3, 0.1923, 0.9421, 0.0612, 0.9811, 1e-3, 6.0, 9000.0, True)
    for batch in range(20, 201, 20):
        yield ev.BatchProgress("run1", 2, 3, batch, 422, 0.05, 9123.0, 75.0, 0.98)


def feed_two_runs(app) -> None:
    app.board.add("run0", "1-layer", 1)
    app.board.add("run1", "3-layer", 3)
    for event in two_runs_events():
        app.board.apply(event)


def test_menu_snapshot(snap_compare, snap_data, snap_runs):
    async def settle(pilot):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(80, 24), run_before=settle)


def test_finished_dashboard_snapshot(snap_compare, snap_data, snap_runs):
    async def feed(pilot):
        app = pilot.app
        app.board.add("run1-3-layer", "3-layer", 3)
        for event in finished_run_events():
            app.board.apply(event)
        app.open_screen("dashboard")
        await pilot.pause(0.3)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(120, 40), run_before=feed)


def test_dashboard_snapshot_at_80x24(snap_compare, snap_data, snap_runs):
    """A run training beside a finished one at 80x24: both bars with their %, img/s, ETA, the whole test score."""

    async def feed(pilot):
        feed_two_runs(pilot.app)
        pilot.app.open_screen("dashboard")
        await settle_screen(pilot)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(80, 24), run_before=feed)


def test_view_data_snapshot(snap_compare, snap_data, snap_runs):
    async def open_data(pilot):
        await pilot.press("v")
        await pilot.pause(0.3)
        await pilot.app.screen.workers.wait_for_complete()
        await settle_screen(pilot)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(120, 40), run_before=open_data)


def fixed_run(runs_dir: Path) -> Path:
    """A run folder with fixed contents (an untrained seeded model and hand-written scores), so the
    Results screen looks the same on every machine."""
    import torch

    from mnist_tui.engine.batches import MEAN, STD
    from mnist_tui.engine.models import get_spec
    from mnist_tui.runfolder.checkpoint import save_checkpoint
    from mnist_tui.runfolder.record import write_json, write_metrics

    folder = runs_dir / "20261122-031500_1-layer_acc93.50"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    spec = get_spec("1-layer")
    save_checkpoint(
        folder / "best.pt",
        "1-layer",
        spec.args,
        spec.create().state_dict(),
        {"model": "1-layer"},
        {"epoch": 2},
        (MEAN, STD),
    )
    counts = [[18 if i == j else 0 for j in range(10)] for i in range(10)]
    counts[4][9], counts[4][4], counts[7][1], counts[7][7], counts[3][5], counts[3][3] = 5, 13, 4, 14, 4, 14
    write_json(
        folder / "confusion.json",
        {
            "counts": counts,
            "test_acc": 0.935,
            "test_loss": 0.2412,
            "per_class": {"precision": [0.95] * 10, "recall": [0.9] * 10, "f1": [0.92] * 10, "support": [20] * 10},
        },
    )
    write_json(
        folder / "summary.json",
        {
            "model": "1-layer",
            "augment": False,
            "params": 63082,
            "epochs": 2,
            "epochs_run": 2,
            "best_epoch": 2,
            "val_acc": 0.94,
            "test_acc": 0.935,
            "train_seconds": 12.5,
            "stopped_early": False,
            "status": "finished",
        },
    )
    write_json(folder / "config.json", {"model": "1-layer", "epochs": 2})
    write_metrics(
        folder,
        [
            {
                "epoch": 1,
                "train_loss": 0.9,
                "train_acc": 0.7,
                "val_loss": 0.4,
                "val_acc": 0.88,
                "lr": 1e-3,
                "seconds": 6.0,
            },
            {
                "epoch": 2,
                "train_loss": 0.3,
                "train_acc": 0.9,
                "val_loss": 0.2,
                "val_acc": 0.94,
                "lr": 1e-5,
                "seconds": 6.5,
            },
        ],
    )
    return folder


def test_results_snapshot(snap_compare, snap_data, snap_runs):
    folder = fixed_run(snap_runs)

    async def open_results(pilot):
        pilot.app.open_screen("results", str(folder))
        await pilot.pause(0.3)
        await pilot.app.screen.workers.wait_for_complete()
        await settle_screen(pilot)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(120, 40), run_before=open_results)


def test_predict_snapshot_at_80x24(snap_compare, snap_data, snap_runs, monkeypatch):
    """Test predictions on the test-set tab at 80x24: the bars and both saliency panels are on screen. Without
    colour, so a pixel is drawn by a threshold and the snapshot does not hang on one CPU's float rounding."""
    monkeypatch.setenv("NO_COLOR", "1")
    fixed_run(snap_runs)

    async def open_test_set(pilot):
        await pilot.app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause(0.3)
        await pilot.app.screen.workers.wait_for_complete()
        await pilot.press("3")
        for _ in range(100):
            await pilot.pause(0.1)
            await pilot.app.screen.workers.wait_for_complete()
            if "predicted" in screen_text(pilot.app):
                break
        await settle_screen(pilot)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(80, 24), run_before=open_test_set)
