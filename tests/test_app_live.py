"""The app as a viewer of run folders: screens that stay true while covered, attaching to live runs, quitting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from screen import screen_text, settle_screen
from test_app import fill_train_form, wait_for
from test_snapshots import feed_two_runs

from mnist_tui.app.app import make_app
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live, runs
from mnist_tui.runfolder.names import stem

pytestmark = pytest.mark.slow


async def open_runs_from_the_palette(pilot):
    """Cover the current screen with Runs, through the command palette, as a user would."""
    app = pilot.app
    below = app.screen
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette", 30)
    await pilot.press(*"Runs")
    await wait_for(pilot, lambda: "Every recorded run" in screen_text(app), 30)
    await pilot.press("enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen", 30)
    return below


def cancelled_after_epoch_1(tiny_config, epochs: int):
    """A run of `epochs` on the synthetic data, cancelled once epoch 1 is saved: resumable."""
    import threading

    from mnist_tui.training.train import fit

    stop = threading.Event()

    def report(event):
        if isinstance(event, ev.EpochCompleted):
            stop.set()

    cancelled = fit(tiny_config(epochs=epochs, patience=0), report, stop)
    assert cancelled.status == "cancelled" and cancelled.summary.epochs_run == 1
    return cancelled


def ended_entry(app, run_id: str, result):
    """Put an ended run on the board, as if this app had followed it."""
    view = app.board.add(run_id, "1-layer", result.summary.epochs or 0)
    view.status, view.run_dir, view.summary = result.status, str(result.run_dir), result.summary
    return view


async def test_a_covered_dashboard_is_current_when_uncovered(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await fill_train_form(pilot, "1-layer", "2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen" and "img/s" in screen_text(app))
        dashboard = await open_runs_from_the_palette(pilot)
        await wait_for(pilot, lambda: not app.board.active())  # the run ends while Runs is on top
        await wait_for(pilot, lambda: "finished" in screen_text(app))  # Runs itself was refreshed too
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard, 30)
        await wait_for(pilot, lambda: "finished" in screen_text(app) and "epoch 2/2" in screen_text(app), 30)
        text = screen_text(app)
        assert "running" not in text and "test" in text and "epoch 2/2" in text


async def test_compare_writes_its_table_while_covered(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "compare-epochs", 30)
        await pilot.press("backspace", "1", "tab", "backspace", "3", "0", "0")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.board) == 4)
        compare = await open_runs_from_the_palette(pilot)
        await wait_for(pilot, lambda: (Path(runs_dir) / "compare.json").exists())
        report = json.loads((Path(runs_dir) / "compare.json").read_text())
        assert sorted(r["model"] for r in report["runs"]) == ["1-layer", "2-layer", "3-layer", "3-layer-aug"]
        assert all(r["status"] == "finished" for r in report["runs"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is compare and "best val acc" in screen_text(app), 30)


async def test_the_app_attaches_to_a_run_started_elsewhere(synthetic_dir, runs_dir):
    """A run started from the CLI (another terminal, or an earlier app) shows on the dashboard with its history."""
    from background import train_in_background

    trainer = train_in_background(synthetic_dir, runs_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        app = make_app(runs_dir, synthetic_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: len(app.board) == 1, 30)
            await pilot.press("d")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", 30)
            log = app.screen.query_one("#epoch-log")  # its history so far, read from the folder
            await wait_for(pilot, lambda: any("epoch 1/5000" in line and "val_acc" in line for line in log.lines))
            await wait_for(pilot, lambda: "img/s" in screen_text(app))
            await pilot.press("s")  # stop it from here: it was not started by this app
            await wait_for(pilot, lambda: "cancelled" in screen_text(app), 60)
        assert trainer.wait(timeout=60) == 0
        (info,) = runs.list_runs(runs_dir)
        assert info.status == "cancelled" and info.has_checkpoint
    finally:
        trainer.kill()


async def test_the_epoch_log_keeps_showing_the_newest_epochs_once_full():
    """Textual's Log stopped repainting once max_lines pruned it: a long run's log froze at epoch 500."""
    from textual.app import App

    from mnist_tui.app.widgets.tail_log import TailLog

    class LogApp(App):
        def compose(self):
            yield TailLog(max_lines=50)

    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(TailLog)
        for i in range(120):
            log.write_line(f"epoch {i}")
            if i % 7 == 0:
                await pilot.pause()
        await pilot.pause()
        assert "epoch 119" in screen_text(app)


async def test_the_dashboard_shows_its_essentials_at_80x24(synthetic_dir, runs_dir):
    """Issue 14, defect 5: at 80x24 a training run keeps its batch %, img/s and ETA, a finished one its whole
    test score, the log its validation accuracy, and the footer ? Help."""
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        feed_two_runs(app)
        app.open_screen("dashboard")
        await wait_for(pilot, lambda: "img/s" in screen_text(app), 30)
        lines = (await settle_screen(pilot)).splitlines()
        training = next(n for n, line in enumerate(lines) if line.startswith(" 3-layer  running"))
        assert "epoch 1/3" in lines[training] and "val 98.11%" in lines[training]
        bars = lines[training + 1]
        assert "33%" in bars and "47%" in bars and "9,123 img/s" in bars and "ETA 1:15" in bars, bars
        assert any("1-layer  finished" in line and "test 97.95%" in line for line in lines)
        assert any(line.startswith("3-layer") and "val_acc 98.11%" in line for line in lines)  # the epoch log
        assert any("finished  test_acc 97.95%" in line for line in lines)
        assert "? Help" in lines[-1] and "Stop selected" in lines[-1], "\n".join(lines)
        plots = app.screen.query("CurvesPlot")
        assert all(plot.size.height >= 8 for plot in plots)  # both charts keep a readable height


async def test_quitting_with_a_live_run_keeps_it_training(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await fill_train_form(pilot, "1-layer", "5000")
        await wait_for(pilot, lambda: "img/s" in screen_text(app))
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: "Keep training" in screen_text(app), 30)
        pid = next(h.pid for h in app.service.runs())
        await pilot.press("enter")  # the default: keep it training
        await wait_for(pilot, lambda: not app.is_running, 30)
    assert live.pid_alive(pid)
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "running"


async def test_compare_says_queued_shows_whole_numbers_and_a_readable_table(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "compare-epochs", 30)
        await pilot.press("backspace", "1", "tab", "backspace", "6", "0", "0", "0")
        await wait_for(pilot, lambda: "6000" in screen_text(app), 10)  # the whole number is visible
        app.screen.query_one("#compare-subset").value = "300"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.board) == 4, 30)
        if any(v.status == "queued" for v in app.board):  # 2 cores: two of the four wait their turn
            await wait_for(pilot, lambda: "queued" in screen_text(app), 10)
        assert "starting" not in screen_text(app)
        await wait_for(pilot, lambda: "best val acc" in screen_text(app))
        text = screen_text(app)
        for label in ("1-layer", "2-layer", "3-layer-aug"):
            assert sum(label in line and "finished" in line for line in text.splitlines()) >= 1


async def test_a_new_run_is_selected_and_s_names_the_run_it_stops(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await fill_train_form(pilot, "1-layer", "1")
        await wait_for(pilot, lambda: not app.board.active() and len(app.board) == 1)
        await pilot.press("escape")
        await fill_train_form(pilot, "2-layer", "5000")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen" and "img/s" in screen_text(app))
        assert app.screen.selected().label == "2-layer"  # the new run, below the finished one, is selected
        await pilot.press("s")
        assert any("Stopping 2-layer" in n.message for n in app._notifications)  # the toast names the run
        await wait_for(
            pilot,
            lambda: (
                "2-layer  stopping after this batch" in screen_text(app) or "2-layer  cancelled" in screen_text(app)
            ),
            10,
        )
        await wait_for(pilot, lambda: not app.board.active(), 60)
        assert [v.status for v in app.board] == ["finished", "cancelled"]


async def test_curves_draw_from_the_first_batch_and_runs_show_the_image_count(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await fill_train_form(pilot, "1-layer", "5000")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        plot = app.screen.query_one("#loss-plot")
        # The training curve has points inside epochs (fractional x), not only at epoch ends. Not "inside
        # epoch 1": on synthetic data an epoch takes 0.2 s, so its one or two progress points can be gone
        # (downsampled) by the time the screen is looked at.
        await wait_for(pilot, lambda: any(x != int(x) for x in plot.series.get("train", ([], []))[0]))
        assert "(from the first batch)" not in screen_text(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.board.active(), 60)
        await pilot.press("escape", "r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen", 30)
        await wait_for(pilot, lambda: "900" in screen_text(app), 30)  # 90% of the 1,000 synthetic images train


async def test_r_resumes_a_cancelled_run_from_the_runs_screen(tiny_config, runs_dir, synthetic_dir):
    cancelled = cancelled_after_epoch_1(tiny_config, epochs=3)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and "cancelled" in screen_text(app), 30)
        await pilot.press("R")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", 30)
        await wait_for(pilot, lambda: len(app.board) == 1 and not app.board.active())
        (view,) = app.board
        assert view.status == "finished" and [p["epoch"] for p in view.history] == [1, 2, 3]
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "finished" and info.epochs_run == 3 and stem(info.path) == stem(cancelled.run_dir)


async def test_a_run_started_elsewhere_while_the_app_is_open_joins_the_dashboard(synthetic_dir, runs_dir):
    """The app looks for new live runs all the time, not only when it starts."""
    from background import train_in_background

    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: "No runs yet" in screen_text(app), 30)
        trainer = train_in_background(synthetic_dir, runs_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await wait_for(pilot, lambda: len(app.board) == 1 and "img/s" in screen_text(app), 30)
            assert "No runs yet" not in screen_text(app)
            await pilot.press("s")
            await wait_for(pilot, lambda: "cancelled" in screen_text(app), 60)
            await wait_for(pilot, lambda: trainer.poll() is not None, 60)
            assert trainer.returncode == 0
            seen = app.scans
            await wait_for(pilot, lambda: app.scans >= seen + 3, 30)  # more looks at the folder attach nothing twice
            assert len(app.board) == 1
        finally:
            trainer.kill()


async def test_resumed_and_deleted_runs_leave_no_stale_entry_on_the_dashboard(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await fill_train_form(pilot, "1-layer", "5000")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        await wait_for(pilot, lambda: any(v.history for v in app.board))  # an epoch is saved: resumable
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.board.active(), 60)
        await pilot.press("escape", "r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and "cancelled" in screen_text(app), 30)
        await pilot.press("R")  # resume: the same folder trains on
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", 30)
        await wait_for(pilot, lambda: "img/s" in screen_text(app))
        assert len(app.board) == 1 and len(app.screen.query("RunRow")) == 1
        assert "cancelled" not in screen_text(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.board.active(), 60)
        await pilot.press("escape", "r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen" and "cancelled" in screen_text(app), 30)
        await pilot.press("d")  # delete it
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", 30)
        await pilot.press("y")
        await wait_for(pilot, lambda: not list(Path(runs_dir).glob("*_cancelled")), 30)
        await pilot.press("escape", "d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", 30)
        await wait_for(pilot, lambda: "No runs yet" in screen_text(app) and not app.screen.query("RunRow"), 10)
        assert len(app.board) == 0  # a row's removal lands a moment after the board lets the run go


async def test_the_quit_question_is_centred_and_whole_at_80x24(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "MenuScreen", 30)
        app.board.add("run1-1-layer", "1-layer", 3).status = "running"  # as if a run were training
        await pilot.press("q")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuitScreen", 30)
        await pilot.pause()
        dialog = app.screen.query_one("#confirm-dialog").region
        assert abs(dialog.x - (80 - dialog.right)) <= 1 and dialog.y > 0  # centred, not in the top-left corner
        for button in app.screen.query("Button"):
            assert button.region.right <= dialog.right and button.region.width >= len(str(button.label))
        text = screen_text(app)
        assert "Keep training (k)" in text and "Stop them (s)" in text and "Stay (esc)" in text
        await pilot.press("escape")
        app.board.runs["run1-1-layer"].status = "cancelled"


async def test_the_palette_offers_every_screen_and_the_fetch(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "MenuScreen", 30)
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert "Model" in titles and "Fetch MNIST" in titles
        assert titles["Dashboard"] == "Every live run, wherever it was started"
        await pilot.press("r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen", 30)
        assert "Fetch MNIST" not in {c.title for c in app.get_system_commands(app.screen)}  # the menu's own


async def test_a_run_resumed_from_the_cli_takes_the_place_of_its_ended_entry(tiny_config, synthetic_dir, runs_dir):
    """An ended run on the board, resumed from another terminal: the board follows the folder, once."""
    cancelled = cancelled_after_epoch_1(tiny_config, epochs=3)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "MenuScreen", 30)
        ended_entry(app, "old-entry", cancelled)
        await pilot.press("d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen", 30)
        resumed = subprocess.Popen(
            [sys.executable, "-m", "mnist_tui", "train", "--resume", str(cancelled.run_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:  # the app keeps looking at the folder while the run resumes (a blocking wait would hide that)
            await wait_for(pilot, lambda: resumed.poll() is not None, 120)
        finally:
            resumed.kill()
        assert resumed.returncode == 0
        await wait_for(pilot, lambda: [v.status for v in app.board] == ["finished"], 30)
        (view,) = app.board
        assert Path(view.run_dir).exists() and "_acc" in Path(view.run_dir).name
        assert len(app.screen.query("RunRow")) == 1


async def test_a_comparison_is_written_again_when_one_of_its_runs_is_resumed(tiny_config, synthetic_dir, runs_dir):
    from mnist_tui.app.app import CompareJob

    cancelled = cancelled_after_epoch_1(tiny_config, epochs=2)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "MenuScreen", 30)
        ended_entry(app, "old", cancelled)
        job = CompareJob(["old"], 1)
        app.compare_jobs.append(job)
        app._finish_compare_jobs()  # the comparison ended with this run cancelled
        assert json.loads((runs_dir / "compare.json").read_text())["runs"][0]["status"] == "cancelled"
        app.resume_run(cancelled.run_dir)
        await wait_for(pilot, lambda: job.rows is not None and job.path is not None, 60)
        (row,) = json.loads((runs_dir / "compare.json").read_text())["runs"]
        assert row["status"] == "finished" and row["test_acc"] is not None and Path(row["run_dir"]).exists()
