"""Snapshot tests for the screens whose look matters (pytest-textual-snapshot; update with --snapshot-update)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from mnist_tui import data
from mnist_tui import events as ev
from mnist_tui.app import make_app

# Fixed paths: the screens show them, and a snapshot must not depend on pytest's tmp names.
SNAP_ROOT = Path(tempfile.gettempdir()) / "mnist-tui-snapshots"


@pytest.fixture(scope="module")
def snap_data() -> Path:
    root = SNAP_ROOT / "data"
    data.write_synthetic(root, n_train=1000, n_test=200)
    return root


@pytest.fixture
def snap_runs(tmp_path) -> Path:
    return tmp_path / "runs"


def finished_run_events(run_id="run1-3-layer", epochs=3):
    yield ev.RunStarted(run_id, "runs/20261122-031500_3-layer_running", "3-layer", False, 104426, epochs, 422, "cpu", "bf16")
    for epoch in range(1, epochs + 1):
        yield ev.BatchProgress(run_id, epoch, epochs, 422, 422, 0.05 / epoch, 9000.0, 0.0)
        yield ev.EpochCompleted(run_id, epoch, epochs, 0.3 / epoch, 0.9 + 0.03 * epoch, 0.06 / epoch,
                                0.975 + 0.005 * epoch, 1e-3, 6.0, 9000.0, True)
    yield ev.RunFinished(run_id, "runs/20261122-031500_3-layer_acc99.21", "finished",
                         {"test_acc": 0.9921, "val_acc": 0.99, "epochs_run": epochs, "status": "finished"})


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


def test_view_data_snapshot(snap_compare, snap_data, snap_runs):
    async def open_data(pilot):
        await pilot.press("v")
        await pilot.pause(0.3)
        await pilot.app.screen.workers.wait_for_complete()
        await pilot.pause(0.5)

    assert snap_compare(make_app(snap_runs, snap_data), terminal_size=(120, 40), run_before=open_data)
