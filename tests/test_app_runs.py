"""The Runs screen reads the runs folder off the UI thread and is kept between visits: each visit still
starts as a new screen did (a fresh listing, no marks, the cursor on the newest run), and a key pressed
before the listing arrives acts on it."""

from __future__ import annotations

import threading
from pathlib import Path

from screen import screen_text, wait_until

from mnist_tui.app.app import make_app
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.record import write_json


def finished_run(runs_dir: Path, stamp: str, model: str, status: str = "finished") -> Path:
    path = runs_dir / f"{stamp}_{model}_{status}"
    path.mkdir()
    write_json(path / "config.json", {"model": model, "augment": False, "epochs": 2})
    write_json(
        path / "summary.json",
        {"model": model, "status": status, "epochs": 2, "epochs_run": 2, "reason": "out of memory"},
    )
    return path


def counting(monkeypatch, gate: threading.Event | None = None) -> list[Path]:
    """Count every reading of a runs folder; with `gate`, each waits until the gate opens."""
    calls, real = [], runs.list_runs

    def list_runs(runs_dir):
        calls.append(Path(runs_dir))
        if gate is not None:
            gate.wait(30)
        return real(runs_dir)

    monkeypatch.setattr(runs, "list_runs", list_runs)
    return calls


def runs_shown(app) -> bool:
    return type(app.screen).__name__ == "RunsScreen" and app.screen.loaded


async def test_each_visit_reads_the_folder_once_and_starts_afresh(runs_dir, synthetic_dir, monkeypatch):
    finished_run(runs_dir, "20260101-100000", "1-layer")
    finished_run(runs_dir, "20260102-100000", "2-layer")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()  # the start-up check for live runs reads the folder too
        calls = counting(monkeypatch)
        await pilot.press("r")
        await wait_until(pilot, lambda: runs_shown(app) and "2-layer" in screen_text(app))
        assert len(calls) == 1
        await pilot.press("space")  # marks the newest, moves on to the older one
        await wait_until(pilot, lambda: "✓1" in screen_text(app))
        first = app.screen
        await pilot.press("escape")
        finished_run(runs_dir, "20260103-100000", "3-layer")
        await pilot.press("r")
        await wait_until(pilot, lambda: runs_shown(app) and "3-layer" in screen_text(app))
        assert app.screen is first  # resumed, not mounted again
        assert len(calls) == 2
        text = screen_text(app)
        assert "✓1" not in text
        assert "20260103-100000_3-layer_finished" in text  # the detail line: the cursor is on the newest


async def test_a_key_pressed_before_the_rows_arrive_acts_on_them(runs_dir, synthetic_dir, monkeypatch):
    finished_run(runs_dir, "20260101-100000", "1-layer", status="failed")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        gate = threading.Event()
        counting(monkeypatch, gate)
        await pilot.press("r", "enter")  # enter lands on the empty table: it must not be lost
        assert not app.screen.loaded
        gate.set()
        await wait_until(pilot, lambda: "Can't open this run" in screen_text(app))
        assert "out of memory" in screen_text(app)


async def test_no_runs_names_the_folder_on_every_visit(runs_dir, synthetic_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(2):
            await pilot.press("r")
            await wait_until(pilot, lambda: runs_shown(app) and "No runs in" in screen_text(app))
            assert str(runs_dir) in screen_text(app).replace("\n", "")
            await pilot.press("escape")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "MenuScreen")
