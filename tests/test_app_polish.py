"""QA polish: status wording that follows the run's real status, screens that fit 80x24, wrapped error lines,
and a Results screen that draws a run stopped in its first epoch from its event log."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from screen import screen_lines, screen_text, wait_until
from textual.widgets import TabbedContent

from mnist_tui.app.app import make_app
from mnist_tui.engine import data
from mnist_tui.engine.synthetic import write_synthetic
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live
from mnist_tui.runfolder.checkpoint import save_checkpoint
from mnist_tui.runfolder.record import Summary, write_json


def run_folder(runs_dir: Path, name: str, status: str, epochs_run: int = 0, **summary) -> Path:
    path = runs_dir / name
    path.mkdir()
    write_json(path / "config.json", {"model": "1-layer", "augment": False, "epochs": 2})
    write_json(
        path / "summary.json",
        {"model": "1-layer", "status": status, "epochs": 2, "epochs_run": epochs_run, **summary},
    )
    return path


async def open_results(pilot, folder: Path, tab: str) -> None:
    pilot.app.open_screen("results", str(folder))
    await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ResultsScreen")
    await show_tab(pilot, tab)


async def show_tab(pilot, tab: str) -> None:
    """Press the tab's key until it takes: a key pressed while the screen is still mounting goes nowhere."""
    key = str(("confusion", "classes", "curves", "mistakes").index(tab) + 1)

    def active():
        found = pilot.app.screen.query(TabbedContent)
        return found.first().active if found else None

    for _ in range(100):
        if active() == tab:
            return
        if active() is not None:
            await pilot.press(key)
        await pilot.pause(0.1)
    raise AssertionError(f"the {tab} tab never opened")


def flat(app) -> str:
    """The screen's text with its line breaks and runs of spaces as one space: wrapped lines read as one."""
    return re.sub(r"\s+", " ", screen_text(app))


def save_untrained_checkpoint(folder: Path) -> None:
    import torch

    from mnist_tui.engine.batches import MEAN, STD
    from mnist_tui.engine.models import get_spec

    torch.manual_seed(0)
    spec = get_spec("1-layer")
    state = spec.create().state_dict()
    save_checkpoint(folder / "best.pt", "1-layer", spec.args, state, {"model": "1-layer"}, {}, (MEAN, STD))


def write_first_epoch_events(folder: Path, batches: int = 40) -> None:
    lines = [ev.RunStarted("r1", str(folder), "1-layer", False, 63082, 2, 100, "cpu", "fp32")]
    lines += [ev.BatchProgress("r1", 1, 2, b, 100, 2.0 / b, 9000.0, 10.0, 0.1 + b / 100) for b in range(1, batches)]
    lines.append(ev.RunFinished("r1", str(folder), "cancelled", Summary(status="cancelled", epochs_run=0)))
    (folder / live.EVENTS).write_text("".join(live.event_to_line(e) for e in lines))


# -------------------------------------------------- 7: Results curves of a run stopped in its first epoch


async def test_results_curves_of_a_run_stopped_in_epoch_one_come_from_its_event_log(runs_dir, synthetic_dir):
    folder = run_folder(runs_dir, "20260101-100000_1-layer_cancelled", "cancelled")
    write_first_epoch_events(folder)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results(pilot, folder, "curves")
        plot = app.screen.query_one("#results-loss-plot")
        await wait_until(pilot, lambda: len(plot.series.get("train", ([], []))[0]) > 5)
        xs = plot.series["train"][0]
        assert all(0 < x < 1 for x in xs)  # per batch, inside epoch 1
        text = screen_text(app)
        assert "(from the first batch)" not in text
        assert "no epoch completed" in text, text


async def test_results_curves_with_nothing_to_draw_say_so(runs_dir, synthetic_dir):
    folder = run_folder(runs_dir, "20260101-100000_1-layer_cancelled", "cancelled")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results(pilot, folder, "curves")
        await wait_until(pilot, lambda: "nothing to test" in screen_text(app))
        await wait_until(pilot, lambda: "no epoch completed" in screen_text(app))
        text = screen_text(app)
        assert "(from the first batch)" not in text
        assert "no epoch completed" in text, text


# -------------------------------------------------- 8: notices follow the run's status


def interrupted_run(runs_dir: Path) -> None:
    run_folder(runs_dir, "20260101-100000_1-layer_interrupted", "interrupted", reason="killed")


def unreadable_run(runs_dir: Path) -> None:
    path = runs_dir / "20260101-100000_1-layer_finished"
    path.mkdir()
    (path / "summary.json").write_text("{not json")


@pytest.mark.parametrize(
    "make, notice, wrong, right",
    [
        (interrupted_run, "no checkpoint", "Cancelled", "nterrupted"),
        (unreadable_run, "Can't open this run", "It failed", "can't be read"),  # not a failure: unreadable
    ],
)
async def test_runs_enter_says_what_the_status_is(runs_dir, synthetic_dir, make, notice, wrong, right):
    make(runs_dir)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and app.screen.loaded)
        await pilot.press("enter")
        await wait_until(pilot, lambda: notice in screen_text(app))
        text = screen_text(app)
        assert wrong not in text and right in text


async def test_results_of_an_interrupted_run_scored_now_say_interrupted(runs_dir, synthetic_dir):
    folder = run_folder(runs_dir, "20260101-100000_1-layer_interrupted", "interrupted", epochs_run=1)
    save_untrained_checkpoint(folder)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_screen("results", str(folder))
        await wait_until(pilot, lambda: "scored now" in screen_text(app))
        text = screen_text(app)
        assert "cancelled" not in text
        assert "scored now: it was interrupted before its test pass" in text  # whole, at 80 columns


# -------------------------------------------------- 10: a corrupt data file


def corrupt_copy(synthetic_dir: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """A copy of the synthetic data whose t10k labels differ by one byte; returns the dir, the file, its md5."""
    copy = tmp_path / "corrupt-data"
    shutil.copytree(synthetic_dir, copy)
    labels = data.raw_dir(copy) / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[-1] = (blob[-1] + 1) % 10
    labels.write_bytes(bytes(blob))
    expected = json.loads((data.raw_dir(copy) / data.SYNTHETIC_MANIFEST).read_text())["md5"][labels.name]
    return copy, labels, expected


async def test_a_corrupt_data_file_says_what_to_delete_and_the_fetch_error_wraps(runs_dir, synthetic_dir, tmp_path):
    copy, labels, expected = corrupt_copy(synthetic_dir, tmp_path)
    app = make_app(runs_dir, copy)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "corrupted" in screen_text(app))
        await wait_until(pilot, lambda: "then press f" in flat(app))  # its second line is laid out after the first
        status = flat(app)
        assert "press f to fetch it" not in status  # f cannot fix it while the bad file is there
        assert "then press f" in status, status
        await pilot.press("f")
        await wait_until(pilot, lambda: "fetch failed" in screen_text(app), 60)
        text = screen_text(app)
        assert expected in text  # the error line wraps instead of being cut at "expect"
        assert "then press f" in text.split("fetch failed", 1)[1]


# -------------------------------------------------- 13: 80x24


async def test_runs_footer_at_80x24_shows_compare_model_and_help(runs_dir, synthetic_dir):
    run_folder(runs_dir, "20260101-100000_1-layer_finished", "finished", epochs_run=2)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and app.screen.loaded)
        await wait_until(pilot, lambda: all(k in screen_lines(app)[-1] + " " for k in (" c ", " l ", "? ")))
        footer = screen_lines(app)[-1]
        for key in (" c ", " l ", "? "):
            assert key in footer + " ", footer


async def test_model_layer_table_at_80x24_keeps_its_units(runs_dir, synthetic_dir):
    folder = run_folder(runs_dir, "20260101-100000_1-layer_finished", "finished", epochs_run=2)
    save_untrained_checkpoint(folder)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_screen("model", folder)
        await wait_until(pilot, lambda: "total" in screen_text(app))
        await pilot.pause(0.3)
        rows = [line for line in screen_lines(app) if re.match(r"\s*(conv|fc|total)", line)]
        assert rows
        for row in rows:
            assert len(re.findall(r"\d(?:\.\d)? ?[KMG]?i?B\b", row)) == 2, row


async def test_results_gallery_header_fits_80x24(runs_dir, tmp_path):
    full_test_set = write_synthetic(tmp_path / "data", n_train=100, n_test=10_000).parent.parent
    folder = run_folder(runs_dir, "20260101-100000_1-layer_finished", "finished", epochs_run=2)
    save_untrained_checkpoint(folder)
    app = make_app(runs_dir, full_test_set)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot, folder, "mistakes")
        await wait_until(pilot, lambda: "misclassified" in screen_text(app) or "wrong" in screen_text(app))
        await wait_until(pilot, lambda: re.search(r"[\d,]+ of 10,000\b", screen_text(app)) is not None)
        gallery = app.screen.query_one("MisclassifiedGallery")
        total = "10,000"
        assert re.search(rf"[\d,]+ of {total}\b", screen_text(app)), gallery.status


async def test_could_not_evaluate_wraps_at_120x40(runs_dir, synthetic_dir):
    folder = run_folder(runs_dir, "20260101-100000_1-layer_cancelled", "cancelled")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results(pilot, folder, "mistakes")
        await wait_until(pilot, lambda: "Could not evaluate" in screen_text(app))
        await wait_until(pilot, lambda: "nothing to test" in re.sub(r"\s+", " ", screen_text(app)))
        lines = screen_lines(app)
        first = next(i for i, line in enumerate(lines) if "Could not evaluate" in line)  # below the header's copy
        assert "there is nothing to test" in re.sub(r"\s+", " ", " ".join(lines[first:]))


# -------------------------------------------------- 20: minor


async def test_a_saved_value_that_does_not_fit_its_field_is_dropped_with_a_notice(runs_dir, synthetic_dir, user_config):
    user_config.mkdir(parents=True)
    (user_config / "train-form.json").write_text(json.dumps({"epochs": "[bold red]x", "batch_size": "32"}))
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("t")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "TrainScreen")
        await wait_until(pilot, lambda: "ignored" in screen_text(app))
        assert app.screen.query_one("#epochs").value != "[bold red]x"
        assert app.screen.query_one("#batch_size").value == "32"  # the values that fit are kept
        assert "epochs" in screen_text(app)


# -------------------------------------------------- 14: the models table names its activation figure


def test_models_table_names_its_peak_and_explains_it(capsys):
    from mnist_tui.cli.main import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "act/img" not in header and "act/image" not in header  # inspect's act/image is a total
    assert "peak act" in header
    assert any(line.startswith("peak act:") for line in out.splitlines())


async def test_the_keys_panel_says_what_escape_does(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MenuScreen", 30)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: "Close help" in screen_text(app), 10)


# -------------------------------------------------- 8-10: the Model screen and the class chart at 80x24


async def test_the_model_screen_fits_80x24(runs_dir, synthetic_dir):
    from test_app_model import hand_run, loaded

    path = hand_run(runs_dir, "vgg", batch=128)  # the widest table: 9-digit params, 10-digit MACs
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        await loaded(pilot)
        await wait_until(pilot, lambda: "act ×128" in screen_text(app))
        lines = screen_lines(app)
        header = next(line for line in lines if "act/image" in line)
        assert header.rstrip().endswith("act ×128")
        await pilot.press("ctrl+end")  # the table scrolls to its totals, the footnote stays
        await wait_until(pilot, lambda: any(line.strip().startswith("total") for line in screen_lines(app)))
        lines = screen_lines(app)
        total = next(line for line in lines if line.strip().startswith("total"))
        assert "998.3 KiB" in total and total.rstrip().endswith("124.8 MiB")  # both act columns keep their unit
        assert path.name in screen_text(app) and "MACs" in screen_text(app)
        assert "the run's batch size" in flat(app)  # the footnote is on screen

        await pilot.press("2")
        await wait_until(pilot, lambda: "features.0: 32 learned 3x3 filters" in screen_text(app))
        await wait_until(pilot, lambda: "of 28x28 for test image #1" in flat(app))
        assert "conv 1/5 features.0: 32 maps" in screen_text(app)
        footer = screen_lines(app)[-1]
        for key in ("esc ", "] ", ". ", "? Help"):
            assert key in footer, footer


async def test_the_class_chart_draws_every_bar_at_80x24(runs_dir, synthetic_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "DataScreen")
        await pilot.press("2")
        await wait_until(pilot, lambda: "class share" in screen_text(app))
        rows = [line for line in screen_lines(app) if re.match(r"\s*\d\s+█", line)]
        assert sorted(row.split()[0] for row in rows) == [str(d) for d in range(10)], screen_text(app)
        for row in rows:  # each class has its train, validation and test bar, one run each
            assert [len(re.findall(marker + "+", row)) for marker in "█▒░"] == [1, 1, 1], row


async def test_the_maps_title_says_which_test_image_they_show(runs_dir, synthetic_dir):
    from test_app_model import hand_run, loaded

    hand_run(runs_dir, "1-layer")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await wait_until(pilot, lambda: "test 50.00%" in screen_text(app))
        await pilot.press("3")
        await wait_until(pilot, lambda: "test image #" in screen_text(app))
        number = app.screen.query_one("TestTab").index + 1
        await pilot.press("l")
        await loaded(pilot)
        await pilot.press("2")
        await wait_until(pilot, lambda: f"for test image #{number:,}" in flat(app))
        assert "digit drawn" not in flat(app)
        await pilot.press("c")  # clear the canvas: the maps now show what is drawn
        await wait_until(pilot, lambda: "for the digit drawn" in flat(app))


async def test_tab_in_the_compare_form_moves_between_its_two_fields(runs_dir, synthetic_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await wait_until(pilot, lambda: getattr(app.focused, "id", None) == "compare-epochs")
        seen = []
        for _ in range(3):
            await pilot.press("tab")
            seen.append(getattr(app.focused, "id", None))
        assert seen == ["compare-subset", "compare-epochs", "compare-subset"]
