"""View data, driven by its keys: the paged sample grid, the class distribution and the augmentation preview."""

from __future__ import annotations

import re

import pytest
from screen import screen_text

from mnist_tui.app.app import make_app
from mnist_tui.engine.data import class_counts, load_arrays
from mnist_tui.engine.splits import split_indices

CAPTION = re.compile(r"#([\d,]+) · label (\d)")


async def wait_for(pilot, text: str, tries: int = 40) -> str:
    """Let workers and messages settle until `text` is on the screen; return the screen."""
    for _ in range(tries):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        shown = screen_text(pilot.app)
        if text in shown:
            return shown
    raise AssertionError(f"{text!r} never appeared; the screen shows:\n{shown}")


def captions(shown: str) -> list[tuple[int, int]]:
    """(position in the training split, label) of each digit on the screen."""
    return [(int(number.replace(",", "")), int(label)) for number, label in CAPTION.findall(shown)]


def true_labels(data_dir) -> list[int]:
    arrays = load_arrays(data_dir)
    train_idx, _ = split_indices(len(arrays.train_labels))
    return arrays.train_labels[train_idx].tolist()


@pytest.mark.parametrize("size, per_page", [((120, 40), 8), ((80, 24), 2)])
async def test_grid_pages_through_training_digits(runs_dir, synthetic_dir, size, per_page):
    labels = true_labels(synthetic_dir)
    pages = -(-len(labels) // per_page)
    async with make_app(runs_dir=runs_dir, data_dir=synthetic_dir).run_test(size=size) as pilot:
        await pilot.press("v")
        shown = await wait_for(pilot, f"page 1/{pages}")
        assert f"images 1-{per_page} of {len(labels)}" in shown
        first = captions(shown)
        assert [n for n, _ in first] == list(range(1, per_page + 1))
        assert [label for _, label in first] == labels[:per_page]

        await pilot.press("n")
        shown = await wait_for(pilot, f"page 2/{pages}")
        second = captions(shown)
        assert [n for n, _ in second] == list(range(per_page + 1, 2 * per_page + 1))
        assert [label for _, label in second] == labels[per_page : 2 * per_page]
        assert second != first

        await pilot.press("pagedown")
        await wait_for(pilot, f"page 3/{pages}")
        await pilot.press("b", "pageup")
        assert captions(await wait_for(pilot, f"page 1/{pages}")) == first
        await pilot.press("b")  # wraps round to the last page
        shown = await wait_for(pilot, f"page {pages}/{pages}")
        assert captions(shown)[-1] == (len(labels), labels[-1])

        await pilot.press("escape")
        assert "page " not in await wait_for(pilot, "Test predictions")  # the menu again


async def test_class_distribution_shows_chart_and_counts(runs_dir, synthetic_dir):
    arrays = load_arrays(synthetic_dir)
    train_idx, val_idx = split_indices(len(arrays.train_labels))
    train, val = class_counts(arrays.train_labels[train_idx]), class_counts(arrays.train_labels[val_idx])
    async with make_app(runs_dir=runs_dir, data_dir=synthetic_dir).run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await wait_for(pilot, "page 1/")
        await pilot.press("2")
        shown = await wait_for(pilot, "class share of each split")
        assert "page 1/" not in shown
        assert re.search(r"class\s+train\s+validation\s+test", shown)
        assert re.search(rf"total\s+{len(train_idx)}\s+{len(val_idx)}\s+{len(arrays.test_labels)}", shown)
        test = class_counts(arrays.test_labels)
        for digit in (0, 9):
            assert re.search(rf"\s{digit}\s+{train[digit]}\s+{val[digit]}\s+{test[digit]}\s*$", shown, re.M)
        for legend in ("██ train", "▒▒ validation", "░░ test"):
            assert legend in shown


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_augmentation_preview_draws_again(runs_dir, synthetic_dir, monkeypatch, size):
    monkeypatch.setenv("NO_COLOR", "1")  # block glyphs, so a new drawing shows in the text
    async with make_app(runs_dir=runs_dir, data_dir=synthetic_dir).run_test(size=size) as pilot:
        await pilot.press("v")
        await wait_for(pilot, "page 1/")
        await pilot.press("3")
        shown = await wait_for(pilot, "augmented 8")
        assert "original " in shown and "Training image #" in shown
        image = re.search(r"Training image #[\d,]+ \(label \d\)", shown).group()

        await pilot.press("a")
        again = await wait_for(pilot, "augmented 8")
        for _ in range(20):  # the redraw is a worker: wait until its result is on the screen
            if again != shown:
                break
            again = await wait_for(pilot, "augmented 8")
        assert again != shown
        assert image in again  # same digit, new augmentations

        await pilot.press("1")
        await wait_for(pilot, "page 1/")


async def test_missing_data_shows_one_line_and_goes_back(runs_dir, tmp_path):
    async with make_app(runs_dir=runs_dir, data_dir=tmp_path / "nothing").run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        shown = await wait_for(pilot, "✘")
        error = " ".join(line.strip() for line in shown.split("✘", 1)[1].split("Press escape")[0].splitlines())
        assert shown.count("✘") == 1 and "missing" in error and "mnist-tui data fetch --data-dir" in error  # wrapped
        assert "escape to go back to the menu, where f fetches MNIST" in shown
        assert "Traceback" not in shown
        await pilot.press("n", "2", "a")  # keys of a screen with no data do nothing
        await pilot.press("escape")
        shown = await wait_for(pilot, "Test predictions")  # the menu, whose status line offers the fetch
        assert "escape to go back" not in shown
