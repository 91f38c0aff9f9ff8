"""The app driven by its keys, as a user would: menu, train form, live dashboard, stop, compare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from screen import screen_text, wait_until

from mnist_tui.app.app import make_app

TIMEOUT = 150  # seconds for a spawned training to finish on a loaded 2-core machine


async def wait_for(pilot, condition, timeout=TIMEOUT, step=0.2):
    def runs() -> str:
        return "; runs: " + "; ".join(
            f"{v.label}: {v.status}, epoch {v.epoch}/{v.epochs}, batch {v.batch}/{v.batches} {v.reason}"
            for v in pilot.app.board
        )

    await wait_until(pilot, condition, timeout, step, runs)


async def fill_train_form(pilot, model="1-layer", epochs="2"):
    await pilot.press("t")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "TrainScreen", 30)
    form = pilot.app.screen
    form.query_one("#model").value = model
    epochs_input = form.query_one("#epochs")
    epochs_input.focus()
    await wait_for(pilot, lambda: pilot.app.focused is epochs_input, 30)
    epochs_input.value = ""
    await pilot.press(*epochs)
    await pilot.press("enter")


async def test_menu_shows_tasks_and_data_status(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "verified" in screen_text(app), 30)
        text = screen_text(app)
        for item in ("Train", "Compare models", "View data", "Test predictions", "Runs", "Quit"):
            assert item in text
        assert "synthetic test data present and verified" in text


async def test_missing_data_offers_fetch(tmp_path, runs_dir):
    app = make_app(runs_dir, tmp_path / "nothing-here")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "press f to fetch" in screen_text(app), 30)


async def test_fetch_runs_outside_the_ui_and_shows_progress(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")
        await wait_for(pilot, lambda: "done." in screen_text(app), 60)
        assert "All four files present and verified" in screen_text(app)


@pytest.mark.slow  # trains or starts a process
async def test_train_shows_live_bars_then_curves_then_results(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await fill_train_form(pilot, "1-layer", "3")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", 30)
        assert "1-layer" in screen_text(app)
        # The bars move while it trains: a batch count appears and grows.
        await wait_for(pilot, lambda: "img/s" in screen_text(app))
        # A curve appears after epoch 1 (its epoch line is logged and the chart gets points).
        await wait_for(pilot, lambda: "epoch 1/3" in screen_text(app) and "val_acc" in screen_text(app))
        await pilot.press("x")  # keys echo while it trains: an unbound key is harmless and the UI answers
        await wait_for(pilot, lambda: "finished" in screen_text(app) and "test" in screen_text(app))
        text = screen_text(app)
        assert "epoch 3/3" in text and "accuracy (%)" in text and "loss" in text
        assert "100%" in text  # the epoch bar is full
        (folder,) = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
        assert "_1-layer_acc" in folder.name


@pytest.mark.slow  # trains or starts a process
async def test_stop_a_run_from_the_dashboard(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_train_form(pilot, "1-layer", "5000")
        await wait_for(pilot, lambda: "epoch 1/5000" in screen_text(app) and "val" in screen_text(app))
        await pilot.press("s")
        await wait_for(pilot, lambda: "cancelled" in screen_text(app), 30)
        (folder,) = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
        assert folder.name.endswith("_cancelled")
        assert (folder / "best.pt").exists()


@pytest.mark.slow
def test_spawn_from_a_running_app_in_a_fresh_interpreter(synthetic_dir, runs_dir):
    """The fds_to_keep trap only bites when the first spawn (and the resource tracker) start inside the
    app, so this runs in a new interpreter where nothing has been spawned yet."""
    script = f"""
import asyncio, time
from mnist_tui.app.app import make_app
from mnist_tui.engine.config import make_config

async def main():
    app = make_app({str(runs_dir)!r}, {str(synthetic_dir)!r})
    async with app.run_test() as pilot:
        config = make_config("1-layer", epochs=1, data_dir={str(synthetic_dir)!r}, runs_dir={str(runs_dir)!r},
                             threads=1)
        (run_id,) = app.start_training([config])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and app.board.runs[run_id].active:
            await pilot.pause(0.2)
        view = app.board.runs[run_id]
        print("STATUS", view.status, view.reason)

if __name__ == "__main__":
    asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=200)
    assert "STATUS finished" in done.stdout, done.stdout + done.stderr


@pytest.mark.slow  # trains or starts a process
async def test_compare_trains_four_models_and_shows_the_table(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen", 30)
        # Type only once the cursor is in the epochs field, as a person would: keys pressed while the screen
        # is still mounting go nowhere, and the form would start 300 epochs on all the images.
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "compare-epochs", 30)
        await pilot.press("backspace", "1", "tab", "backspace", "3", "0", "0")  # 1 epoch, 300 images
        form = app.screen
        assert (form.query_one("#compare-epochs").value, form.query_one("#compare-subset").value) == ("1", "300")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.board) == 4 and "3-layer-aug" in screen_text(app))
        await wait_for(pilot, lambda: not app.board.active() and "best val acc" in screen_text(app))
        text = screen_text(app)
        for label in ("1-layer", "2-layer", "3-layer", "3-layer-aug"):
            assert label in text
    folders = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 4
    assert (Path(runs_dir) / "compare.json").exists()


async def test_no_color_menu_still_reads(synthetic_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(runs_dir, synthetic_dir)
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "verified" in screen_text(app), 30)
        assert "Train" in screen_text(app)
