"""Pilot tests for Test predictions: draw by mouse and by keys, open an image file, browse the test set, no runs."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from PIL import Image
from screen import screen_text, wait_until

from mnist_tui.app.app import make_app
from mnist_tui.app.widgets.canvas import DigitCanvas
from mnist_tui.engine.data import load_arrays

PERCENT = re.compile(r"predicted \d \(\d+\.\d%\)")


@pytest.fixture
def trained(trained_run, poor_run):
    """The session's real 1-layer runs on the synthetic data: a good one, the default by test accuracy, and a
    poor one to switch to."""
    assert trained_run.summary.test_acc > poor_run.summary.test_acc
    return {"good": trained_run, "poor": poor_run}


@pytest.fixture
def with_model(trained, runs_dir):
    """Only the good run."""
    shutil.copytree(trained["good"].run_dir, runs_dir / trained["good"].run_dir.name)
    return runs_dir


async def settle(pilot) -> str:
    """Let the workers finish and their messages land; return the screen."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    return screen_text(pilot.app)


async def wait_for(pilot, pattern: str | re.Pattern) -> str:
    for _ in range(40):
        text = await settle(pilot)
        if re.search(pattern, text):
            return text
    raise AssertionError(f"{pattern!r} never appeared:\n{screen_text(pilot.app)}")


async def open_predict(pilot) -> DigitCanvas:
    await pilot.press("p")
    await wait_for(pilot, r"test \d+\.\d\d%")  # the model line: the default run's weights are loaded
    text = screen_text(pilot.app)
    assert "1-layer" in text and "draw a digit" in text
    return pilot.app.screen.query_one(DigitCanvas)


async def test_draw_a_one_with_the_mouse_then_erase_and_clear(with_model, synthetic_dir):
    async with make_app(runs_dir=with_model, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        canvas = await open_predict(pilot)
        assert canvas.scale == 2  # room for the big canvas: 56x28 cells, one pixel row per cell row
        # A fast downward drag in column 14: the mouse jumps 5 rows at a time, the stroke has no gaps.
        await pilot.mouse_down(canvas, offset=(1 + 28, 1 + 3))
        for y in range(8, 25, 5):
            await pilot.hover(canvas, offset=(1 + 28, 1 + y))
        await pilot.mouse_up(canvas, offset=(1 + 28, 1 + 23))
        text = await wait_for(pilot, PERCENT)
        assert "draw a digit" not in text
        assert (canvas.pixels[3:24, 14] > 0.9).all(), "the drag left gaps"
        assert canvas.pixels[:, :10].max() < 0.05 and canvas.pixels[:, 19:].max() < 0.05  # a soft but narrow brush
        assert 0.05 < canvas.pixels[10, 16] < 0.95  # anti-aliased edge, like MNIST's strokes
        assert "grad × input" in text and "overlay" in text

        # Right button erases where it is pressed.
        await pilot.mouse_down(canvas, offset=(1 + 28, 1 + 14), button=3)
        await pilot.mouse_up(canvas, offset=(1 + 28, 1 + 14))
        await settle(pilot)
        assert canvas.pixels[14, 14] < 0.05 and canvas.pixels[5, 14] > 0.9

        # i shows the preprocessed input next to the saliency.
        await pilot.press("i")
        assert "model input" in await settle(pilot)

        await pilot.press("c")
        text = await wait_for(pilot, "draw a digit")
        assert not PERCENT.search(text)
        assert not canvas.pixels.any()


async def test_draw_a_one_with_keys_at_80x24_without_colour(with_model, synthetic_dir, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # block glyphs, so the drawing shows in the text
    async with make_app(runs_dir=with_model, data_dir=synthetic_dir).run_test(size=(80, 24)) as pilot:
        canvas = await open_predict(pilot)
        assert canvas.scale == 1 and canvas.has_focus
        blank = screen_text(pilot.app)
        await pilot.press(*["up"] * 9, "space")  # cursor from the centre to row 5; space paints a dot
        assert PERCENT.search(await settle(pilot))
        await pilot.press(*["shift+down"] * 18)  # shift+arrows draw: a vertical stroke down to row 23
        text = await wait_for(pilot, PERCENT)
        assert (canvas.pixels[5:24, 14] > 0.9).all()
        canvas_rows = [line[:32] for line in text.splitlines()[4:20]]
        assert sum("█" in row for row in canvas_rows) >= 8, "\n".join(canvas_rows)  # the 1 is on screen
        assert text != blank

        await pilot.press("x")  # erase at the cursor (the stroke's lower end)
        await settle(pilot)
        assert canvas.pixels[23, 14] < 0.05

        await pilot.press("c")
        assert "draw a digit" in await settle(pilot)
        assert "Paint" in screen_text(pilot.app) and "Clear" in screen_text(pilot.app)  # the keys are in the footer


async def test_browse_the_test_set(with_model, synthetic_dir):
    labels = load_arrays(synthetic_dir).test_labels
    async with make_app(runs_dir=with_model, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        await open_predict(pilot)
        await pilot.press("3")
        text = await wait_for(pilot, r"test image #1 of 200")
        assert f"true label {labels[0]}" in text
        text = await wait_for(pilot, PERCENT)
        assert "model input" in text and "grad × input" in text

        await pilot.press("right")
        text = await wait_for(pilot, r"test image #2 of 200")
        assert f"true label {labels[1]}" in text
        await pilot.press("left", "left")
        text = await wait_for(pilot, r"test image #200 of 200")
        assert f"true label {labels[199]}" in text

        await pilot.press("r")
        text = await wait_for(pilot, PERCENT)
        assert re.search(r"test image #\d+ of 200", text)

        await pilot.press("m")  # misclassified only: the whole test set is scored in a worker
        text = await wait_for(pilot, r"misclassified \d+ of \d+|no misclassified images")
        assert "m misclassified only (on)" in text


async def test_open_an_image_file(with_model, synthetic_dir, tmp_path):
    images = load_arrays(synthetic_dir).test_images
    folder = tmp_path / "digits2"
    folder.mkdir()
    big = Image.fromarray(255 - images[3]).resize((112, 112))  # dark on light, 4x the size: inverted and scaled
    big.save(folder / "seven.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    async with make_app(runs_dir=with_model, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        await open_predict(pilot)
        await pilot.press("2")
        await settle(pilot)
        # Typing digits goes into the path, not to the tab keys; → accepts the completion of the file name.
        field = pilot.app.screen.query_one("#file-path")
        field.value = f"{tmp_path}/"
        await pilot.press(*"digits2/se", "right", "enter")
        assert field.value == str(folder / "seven.png")
        text = await wait_for(pilot, PERCENT)
        assert "original 112x112" in text and "model input" in text and "grad × input" in text
        assert "Image file" in text

        field.value = str(folder / "broken.png")
        await pilot.press("enter")
        text = await wait_for(pilot, "not an image")
        assert "broken.png: not an image" in text and not PERCENT.search(text)


class FakeService:
    """Records what would be trained, instead of spawning a process."""

    def __init__(self) -> None:
        self.configs = []

    def start(self, config) -> str:
        self.configs.append(config)
        return f"run-{len(self.configs)}"

    def next_event(self, timeout: float | None = None):
        time.sleep(timeout or 0)
        return None

    def cancel(self, run_id: str) -> None:
        pass

    def close(self, stop_runs: bool = True, timeout: float = 3.0) -> None:
        pass


async def test_no_runs_offers_a_quick_training(runs_dir, synthetic_dir):
    service = FakeService()
    app = make_app(runs_dir=runs_dir, data_dir=synthetic_dir, service_factory=lambda: service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        text = await settle(pilot)
        assert "No trained model" in text and "Press t for a quick training" in text
        assert "Quick training" in text  # in the footer
        await pilot.press("t")
        await pilot.pause()  # not settle: the app's event drain runs until the app exits
        await pilot.pause()
        assert [c.model for c in service.configs] == ["3-layer"]
        assert service.configs[0].preset == "fast" and service.configs[0].runs_dir == str(runs_dir)
        assert type(pilot.app.screen).__name__ == "DashboardScreen"


async def test_the_best_run_is_the_default_and_another_can_be_chosen(trained, runs_dir, synthetic_dir):
    for result in (trained["good"], trained["poor"]):
        shutil.copytree(result.run_dir, runs_dir / result.run_dir.name)
    good, poor = (f"test {trained[k].summary.test_acc * 100:.2f}%" for k in ("good", "poor"))
    async with make_app(runs_dir=runs_dir, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        await open_predict(pilot)
        assert good in screen_text(pilot.app)
        await pilot.press("s")  # opens the model list, newest run first: the poor one is above the default
        # keys go to the list once it is open and has the focus, as a person would see
        await wait_until(pilot, lambda: type(pilot.app.focused).__name__ == "SelectOverlay", 10)
        await pilot.press("up", "enter")
        text = await wait_for(pilot, re.escape(poor))
        assert good not in text
        assert trained["poor"].run_dir.name in text  # the header names the loaded run
        assert isinstance(pilot.app.focused, DigitCanvas)  # back to drawing


async def test_every_tab_shows_its_essentials_at_80x24(with_model, synthetic_dir):
    """Issue 14, defect 5: at 80x24 the saliency panels are on screen under the bars, and ? Help on the footer."""
    async with make_app(runs_dir=with_model, data_dir=synthetic_dir).run_test(size=(80, 24)) as pilot:
        await open_predict(pilot)
        footer = screen_text(pilot.app).splitlines()[-1]
        assert "Clear" in footer and "? Help" in footer, footer
        await pilot.press("3")
        lines = (await wait_for(pilot, PERCENT)).splitlines()
        captions = next(n for n, line in enumerate(lines) if "grad × input" in line)
        assert "model input" in lines[captions] and "overlay" in lines[captions]
        assert captions < len(lines) - 1  # above the footer, not cut off
        assert all(lines[captions - row].count("▀" * 14) == 3 for row in range(1, 8)), "\n".join(lines)
        assert "predicted" in "\n".join(lines[:captions]) and " 9 " in "\n".join(lines[:captions])  # all ten bars
        assert "Random" in lines[-1] and "? Help" in lines[-1], lines[-1]
