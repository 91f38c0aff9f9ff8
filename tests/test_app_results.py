"""Pilot tests for Runs and Results: real runs on synthetic data, driven by keys, checked on screen and on disk."""

from __future__ import annotations

import json
import re
import shutil
import threading

import pytest
from screen import screen_text

from mnist_tui.app.app import make_app
from mnist_tui.app.messages import RunsChanged
from mnist_tui.engine.config import make_config
from mnist_tui.runfolder import events as ev
from mnist_tui.training.train import fit

FAILED = "20200101-000000_3-layer_failed"


@pytest.fixture(scope="module")
def trained(synthetic_dir, tmp_path_factory):
    """Three real runs, trained once per module: a poor 1-layer (many mistakes to show), a good 2-layer,
    and a compact run cancelled after epoch 1 (a checkpoint but no test scores); plus a failed run folder."""
    root = tmp_path_factory.mktemp("trained-runs")

    def config(model, **overrides):
        values = dict(
            epochs=1, batch_size=64, data_dir=str(synthetic_dir), runs_dir=str(root), threads=1, precision="fp32"
        )
        return make_config(model, **{**values, **overrides})

    poor = fit(config("1-layer", lr=1e-5)).run_dir
    good = fit(config("2-layer")).run_dir
    stop = threading.Event()
    cancelled = fit(
        config("compact", epochs=3),
        report=lambda e: stop.set() if isinstance(e, ev.EpochCompleted) else None,
        stop=stop,
    ).run_dir
    failed = root / FAILED
    failed.mkdir()
    (failed / "summary.json").write_text(
        json.dumps({"model": "3-layer", "status": "failed", "epochs_run": 0, "reason": "RuntimeError: out of memory"})
    )
    return {"root": root, "poor": poor.name, "good": good.name, "cancelled": cancelled.name, "failed": FAILED}


@pytest.fixture
def runs_copy(trained, runs_dir):
    for path in trained["root"].iterdir():
        shutil.copytree(path, runs_dir / path.name)
    return runs_dir


@pytest.fixture
def one_run(trained, runs_dir):
    """Only the good 2-layer run; the test adds the others itself."""
    shutil.copytree(trained["root"] / trained["good"], runs_dir / trained["good"])
    return runs_dir


async def open_runs(pilot) -> None:
    await pilot.press("r")
    await pilot.pause()


async def select(pilot, name: str) -> None:
    """Move the Runs cursor down until the detail line names the run."""
    for _ in range(10):
        if name in screen_text(pilot.app):
            return
        await pilot.press("down")
        await pilot.pause()
    raise AssertionError(f"{name} not found on the Runs screen:\n{screen_text(pilot.app)}")


async def wait_for(pilot, text: str) -> str:
    """Let the results worker finish and its messages land, then return the screen."""
    await pilot.app.workers.wait_for_complete()
    for _ in range(20):
        await pilot.pause()
        shown = screen_text(pilot.app)
        if text in shown:
            return shown
    raise AssertionError(f"{text!r} never appeared:\n{screen_text(pilot.app)}")


def star_row(text: str) -> str:
    return next(line for line in text.splitlines() if line.lstrip().startswith("★") and ":" in line)


async def test_open_a_run_and_switch_the_confusion_table(runs_copy, synthetic_dir, trained):
    poor = runs_copy / trained["poor"]
    saved = json.loads((poor / "confusion.json").read_text())
    async with make_app(runs_dir=runs_copy, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        await open_runs(pilot)
        text = screen_text(pilot.app)
        for model in ("1-layer", "2-layer", "compact", "3-layer"):
            assert model in text
        for status in ("finished", "cancelled", "failed"):
            assert status in text

        await select(pilot, trained["poor"])
        await pilot.press("enter")
        text = await wait_for(pilot, "most confused:")
        assert f"test accuracy {saved['test_acc'] * 100:.2f}%" in text
        assert "counts" in text and "most confused:" in text

        await pilot.press("p")
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "row %" in text
        counts = saved["counts"]
        row = max(range(10), key=lambda t: max(counts[t]))
        assert f"{100 * max(counts[row]) / sum(counts[row]):.1f}" in text

        await pilot.press("4")
        text = await wait_for(pilot, "misclassified")
        assert re.search(r"\d+ of 200 misclassified", text)
        first = re.findall(r"true \d pred \d", text)
        assert first
        await pilot.press("n")  # the gallery has the focus, so n pages it
        await pilot.pause()
        assert re.findall(r"true \d pred \d", screen_text(pilot.app)) != first

        await pilot.press("escape")
        await pilot.pause()
        assert "mark as the default" in screen_text(pilot.app)


async def test_cancelled_run_is_scored_on_demand_at_80x24_without_colour(
    runs_copy, synthetic_dir, trained, monkeypatch
):
    monkeypatch.setenv("NO_COLOR", "1")
    cancelled = runs_copy / trained["cancelled"]
    assert not (cancelled / "confusion.json").exists()
    async with make_app(runs_dir=runs_copy, data_dir=synthetic_dir).run_test(size=(80, 24)) as pilot:
        assert pilot.app.no_color
        await open_runs(pilot)
        await select(pilot, trained["cancelled"])
        await pilot.press("enter")
        text = await wait_for(pilot, "scored now")
        assert re.search(r"test accuracy \d+\.\d\d%", text)
        assert "most confused:" in text
        await pilot.press("2")
        await pilot.pause()
        assert "precision" in screen_text(pilot.app)
        await pilot.press("3")
        await pilot.pause()
        assert "accuracy (%)" in screen_text(pilot.app)
        await pilot.press("4")
        assert re.search(r"true \d pred \d", await wait_for(pilot, "misclassified"))
    assert not (cancelled / "confusion.json").exists()  # Results reads runs; it never rewrites them


async def test_delete_asks_first_and_no_keeps_the_run(runs_copy, synthetic_dir, trained):
    good = runs_copy / trained["good"]
    async with make_app(runs_dir=runs_copy, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        await open_runs(pilot)
        await select(pilot, trained["good"])

        await pilot.press("d")
        await pilot.pause()
        assert "Delete" in screen_text(pilot.app) and "everything in it?" in screen_text(pilot.app)
        await pilot.press("n")
        await pilot.pause()
        assert good.exists()
        assert trained["good"] in screen_text(pilot.app) and "2-layer" in screen_text(pilot.app)

        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not good.exists()
        text = screen_text(pilot.app)
        assert "2-layer" not in text.replace(f"Deleted {trained['good']}", "")
        assert (runs_copy / trained["poor"]).exists()


async def test_mark_default_moves_the_star(runs_copy, synthetic_dir, trained):
    async with make_app(runs_dir=runs_copy, data_dir=synthetic_dir).run_test(size=(120, 40)) as pilot:
        await open_runs(pilot)
        assert "2-layer" in star_row(screen_text(pilot.app))  # unmarked: the best test accuracy is the default

        await select(pilot, trained["poor"])
        await pilot.press("m")
        await pilot.pause()
        assert "1-layer" in star_row(screen_text(pilot.app))
        assert (runs_copy / "DEFAULT").read_text().strip() == trained["poor"]


async def test_failed_run_explains_why_it_cannot_open(runs_copy, synthetic_dir, trained):
    app = make_app(runs_dir=runs_copy, data_dir=synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_runs(pilot)
        await select(pilot, trained["failed"])
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "It failed, so it has no results" in text
        assert "mark as the default" in text  # still on Runs


async def test_runs_refreshes_when_a_run_ends(one_run, synthetic_dir, trained):
    async with make_app(runs_dir=one_run, data_dir=synthetic_dir).run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        assert "2-layer" in screen_text(pilot.app) and "compact" not in screen_text(pilot.app)
        shutil.copytree(trained["root"] / trained["cancelled"], one_run / trained["cancelled"])
        pilot.app.screen.post_message(RunsChanged())
        await pilot.pause()
        assert "compact" in screen_text(pilot.app) and "cancelled" in screen_text(pilot.app)


async def test_results_without_test_data_still_shows_the_saved_scores(one_run, trained, tmp_path):
    saved = json.loads((one_run / trained["good"] / "confusion.json").read_text())
    async with make_app(runs_dir=one_run, data_dir=tmp_path / "no-data").run_test(size=(120, 40)) as pilot:
        await open_runs(pilot)
        await pilot.press("enter")
        text = await wait_for(pilot, "test accuracy")
        assert f"test accuracy {saved['test_acc'] * 100:.2f}%" in text
        await pilot.press("4")
        assert "Could not evaluate" in await wait_for(pilot, "Could not evaluate")
