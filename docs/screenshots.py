"""Regenerate the SVG screenshots in docs/ by driving the real app (real MNIST, a real 1-epoch run).

    python docs/screenshots.py [--runs-dir /tmp/mnist-tui-docs]

It trains `1-layer` for one epoch through the Train form, exactly as a user would, then visits each screen.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from mnist_tui.app.app import make_app

DOCS = Path(__file__).parent
SIZE = (120, 40)
# From the finished dashboard: the keys a user presses, and the screenshot taken after them.
TOUR_AFTER_TRAINING = [
    (("enter",), "results.svg"),
    (("4",), "results-misclassified.svg"),
    (("escape", "escape", "r"), "runs.svg"),
    (("escape", "v"), "data.svg"),
    (("2",), "data-classes.svg"),
    (("3",), "data-augmentation.svg"),
]


async def wait_until(pilot, condition, timeout=600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        await pilot.pause(0.5)


async def settle(pilot, timeout=120.0):
    """Wait until the current screen's own workers are done (the app's event drain runs for ever)."""
    from textual.worker import WorkerState

    await pilot.pause(0.5)
    screen = pilot.app.screen
    busy = lambda: any(
        w.node is screen and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers
    )
    await wait_until(pilot, lambda: not busy(), timeout)
    await pilot.pause(1.0)


async def main(runs_dir: str) -> None:
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.save_screenshot("menu.svg", str(DOCS))
        await pilot.press("t")
        await settle(pilot)
        form = app.screen
        form.query_one("#model").value = "1-layer"
        form.query_one("#epochs").value = "1"
        app.save_screenshot("train.svg", str(DOCS))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.board.runs and not app.board.active())
        await pilot.pause(1.0)
        app.save_screenshot("dashboard.svg", str(DOCS))
        for keys, name in TOUR_AFTER_TRAINING:
            await pilot.press(*keys)
            await settle(pilot)
            app.save_screenshot(name, str(DOCS))
        await pilot.press("escape", "p")
        await settle(pilot)
        canvas = app.screen.query_one("DigitCanvas")
        for start, end in [((5, 6), (5, 21)), ((5, 21), (23, 11))]:  # a "7": the bar, then the stem
            canvas.paint(start, end)
        canvas._post(final=True)
        await settle(pilot)
        app.save_screenshot("predict.svg", str(DOCS))
        await pilot.press("3")
        await settle(pilot)
        app.save_screenshot("predict-test-set.svg", str(DOCS))
    await model_tour(runs_dir)


async def model_tour(runs_dir: str) -> None:
    """The Model screen of the default run, opened from Test predictions with a drawn 7 on the canvas."""
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        canvas = app.screen.query_one("DigitCanvas")
        for start, end in [((5, 6), (5, 21)), ((5, 21), (23, 11))]:  # a "7": the bar, then the stem
            canvas.paint(start, end)
        canvas._post(final=True)
        await settle(pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: bool(getattr(app.screen, "conv_maps", None)))
        await settle(pilot)
        app.save_screenshot("model.svg", str(DOCS))
        await pilot.press("2")
        await settle(pilot)
        app.save_screenshot("model-maps.svg", str(DOCS))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default="/tmp/mnist-tui-docs")
    parser.add_argument(
        "--model-only", action="store_true", help="only the Model screen, of the default run already there"
    )
    args = parser.parse_args()
    asyncio.run(model_tour(args.runs_dir) if args.model_only else main(args.runs_dir))
