"""Pilot tests for the Model screen: the layer table, the first conv's filters, and feature maps that follow
the drawing; opened from the menu, Runs, Results and Test predictions."""

from __future__ import annotations

import numpy as np
import pytest
from screen import screen_text, wait_until

from mnist_tui.app.app import make_app
from mnist_tui.app.screens.model import ModelScreen
from mnist_tui.engine.models import REGISTRY, build_model, describe
from mnist_tui.runfolder.checkpoint import save_checkpoint
from mnist_tui.runfolder.record import CHECKPOINT, write_json, write_metrics


def hand_run(runs_dir, model: str = "2-layer", acc: float = 0.5, batch: int = 32):
    """A finished run with a checkpoint saved by hand (seeded weights, no training)."""
    import torch

    torch.manual_seed(0)
    path = runs_dir / f"20260101-000000_{model}_acc{acc * 100:.2f}"
    path.mkdir()
    config = {"model": model, "batch_size": batch, "precision": "fp32", "channels_last": False, "eval_batch_size": 256}
    save_checkpoint(
        path / CHECKPOINT,
        model,
        REGISTRY[model].args,
        build_model(model).state_dict(),
        config,
        {},
        (0.1307, 0.3081),
    )
    write_json(path / "config.json", {**config, "resolved": {"precision": "fp32"}})
    write_json(
        path / "summary.json",
        {
            "model": model,
            "status": "finished",
            "test_acc": acc,
            "epochs_run": 1,
            "epochs": 1,
            "params": describe(model).params,
        },
    )
    write_metrics(
        path, [{"epoch": 1, "train_loss": 1, "train_acc": 0.5, "val_loss": 1, "val_acc": 0.5, "lr": 1e-3, "seconds": 1}]
    )
    return path


async def loaded(pilot) -> ModelScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ModelScreen) and bool(pilot.app.screen.conv_maps))
    return pilot.app.screen


async def test_the_model_screen_from_the_menu_follows_the_drawing(runs_dir, synthetic_dir):
    hand_run(runs_dir)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        screen = await loaded(pilot)
        shown = screen_text(app)
        assert f"{describe('2-layer').params:,} params" in shown and "act ×32" in shown
        assert "features.0" in shown and f"{28 * 28 * 32 * 9:,}" in shown and "total" in shown

        await pilot.press("2")
        await wait_until(pilot, lambda: "32 learned 3x3 filters" in screen_text(app))
        assert "conv 1/2 features.0: 32 maps of 28x28 for test image #1" in screen_text(app)
        first = [t.copy() for t in screen.conv_maps[0].tiles]
        await pilot.press("c")  # clear the test digit from the canvas: every map changes
        await wait_until(pilot, lambda: any(not np.array_equal(a, b) for a, b in zip(first, screen.conv_maps[0].tiles)))
        blank = [t.copy() for t in screen.conv_maps[0].tiles]
        await pilot.press("space")  # paint a dab at the brush: the maps follow again
        await wait_until(pilot, lambda: any(not np.array_equal(a, b) for a, b in zip(blank, screen.conv_maps[0].tiles)))

        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: "conv 2/2 features.4: 64 maps of 14x14" in screen_text(app))
        await pilot.press("full_stop")
        await wait_until(pilot, lambda: "page 2/" in screen_text(app))


async def test_with_no_runs_the_menu_shows_an_untrained_model(runs_dir, synthetic_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        await loaded(pilot)
        shown = screen_text(app)
        assert "3-layer (untrained)" in shown and "No trained run" in shown
        assert f"{describe('3-layer').params:,} params" in shown


@pytest.mark.parametrize("route", ["runs", "results"])
async def test_open_from_runs_and_results(runs_dir, synthetic_dir, route):
    path = hand_run(runs_dir, "1-layer")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: "1-layer" in screen_text(app))
        if route == "results":
            await pilot.press("enter")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "ResultsScreen")
        await pilot.press("l")
        screen = await loaded(pilot)
        assert screen.run_dir == path and path.name in screen_text(app)


async def test_open_from_test_predictions_with_the_canvas_digit(runs_dir, synthetic_dir):
    hand_run(runs_dir, "1-layer")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await wait_until(pilot, lambda: "test 50.00%" in screen_text(app))
        canvas = app.screen.query_one("#canvas")
        canvas.paint((5, 14), (23, 14))  # a "1"
        drawn = canvas.pixels.copy()
        await pilot.press("l")
        screen = await loaded(pilot)
        assert np.array_equal(screen.image, drawn)
        assert np.array_equal(screen.query_one("#model-canvas").pixels, drawn)
