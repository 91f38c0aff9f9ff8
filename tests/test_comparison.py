"""Comparing the runs you choose: the headless comparison, `runs --compare`, and marking + `c` in Runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from screen import screen_text, wait_until

from mnist_tui.analysis.comparison import compare_runs, curves
from mnist_tui.app.app import make_app
from mnist_tui.cli.main import main
from mnist_tui.runfolder.record import RunError, write_json, write_metrics


def fake_run(runs_dir: Path, stamp: str, model: str, acc: float, lr: float, batch: int = 64) -> Path:
    """A finished run folder as training writes it, with two epochs of metrics."""
    path = runs_dir / f"{stamp}_{model}_acc{acc * 100:.2f}"
    path.mkdir()
    config = {
        "model": model,
        "augment": False,
        "epochs": 2,
        "batch_size": batch,
        "lr": lr,
        "seed": 0,
        "epoch_fraction": 1.0,
        "runs_dir": str(runs_dir),
        "resolved": {"precision": "fp32", "train_images": 1000},
    }
    write_json(path / "config.json", config)
    write_json(
        path / "summary.json",
        {
            "model": model,
            "augment": False,
            "params": 1234,
            "epochs": 2,
            "epochs_run": 2,
            "val_acc": acc - 0.01,
            "test_acc": acc,
            "train_seconds": 4.0,
            "status": "finished",
        },
    )
    write_metrics(
        path,
        [
            {
                "epoch": e,
                "train_loss": 1.0 / e,
                "train_acc": 0.5,
                "val_loss": 0.9 / e,
                "val_acc": acc - 0.05 / e,
                "lr": lr,
                "seconds": 2.0,
            }
            for e in (1, 2)
        ],
    )
    return path


@pytest.fixture
def three_runs(runs_dir):
    return [
        fake_run(runs_dir, "20260101-000001", "1-layer", 0.91, 1e-3),
        fake_run(runs_dir, "20260101-000002", "2-layer", 0.95, 1e-3),
        fake_run(runs_dir, "20260101-000003", "3-layer", 0.97, 3e-3, batch=128),
    ]


def test_compare_runs_finds_the_fields_that_differ(three_runs):
    result = compare_runs(three_runs[:2])
    assert result.differing == {"model": ["1-layer", "2-layer"]}  # runs_dir is where, not how: ignored
    assert [c.test_acc for c in result.runs] == [0.91, 0.95]
    assert result.runs[0].images_per_sec == pytest.approx(1000 * 2 / 4.0)
    assert curves(result, "val_acc")["1 1-layer"] == ([1, 2], [pytest.approx(0.86), pytest.approx(0.885)])
    everything = compare_runs(three_runs)
    assert everything.differing["lr"] == [1e-3, 1e-3, 3e-3] and everything.differing["batch_size"] == [64, 64, 128]
    with pytest.raises(RunError, match="at least two"):
        compare_runs(three_runs[:1])


def test_cli_runs_compare(three_runs, runs_dir, capsys):
    assert main(["runs", "--runs-dir", str(runs_dir), "--compare", "20260101-000001", "20260101-000003"]) == 0
    out = capsys.readouterr().out
    assert "91.00%" in out and "97.00%" in out and "config fields that differ" in out
    assert "batch_size" in out and "lr" in out
    assert main(["runs", "--runs-dir", str(runs_dir), "--compare", "20260101-000001"]) == 1
    assert "a comparison needs at least two runs" in capsys.readouterr().err


async def test_mark_runs_with_space_and_compare_them(three_runs, runs_dir, synthetic_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: "3-layer" in screen_text(app))
        await pilot.press("c")  # nothing marked yet
        await wait_until(pilot, lambda: "Mark two or more" in screen_text(app))
        await pilot.press("space", "down", "space")  # the newest (3-layer) and the oldest (1-layer), not 2-layer
        await wait_until(pilot, lambda: "✓2" in screen_text(app))
        await pilot.press("c")
        await wait_until(pilot, lambda: "validation accuracy" in screen_text(app))
        shown = screen_text(app)
        assert "97.00%" in shown and "91.00%" in shown and "95.00%" not in shown
        assert "batch_size" in shown and "config fields differ" in shown
        assert app.screen.paths == [three_runs[2], three_runs[0]]


@pytest.mark.parametrize("garbage", [b"\x00garbage{", b"[1, 2]"])
def test_compare_with_an_unreadable_config_names_it_and_compares_the_rest(three_runs, runs_dir, capsys, garbage):
    (three_runs[1] / "config.json").write_bytes(garbage)
    result = compare_runs(three_runs)
    assert set(result.differing) == {"model", "lr", "batch_size"}  # from the two readable configs only
    assert result.differing["lr"] == [1e-3, None, 3e-3]
    assert list(result.config_errors) == [None, result.config_errors[1], None] and result.config_errors[1]
    assert result.runs[1].test_acc == 0.95  # its summary is fine, so its scores are still shown

    refs = ["20260101-000001", "20260101-000002", "20260101-000003"]
    assert main(["runs", "--runs-dir", str(runs_dir), "--compare", *refs]) == 0
    out = capsys.readouterr().out
    (note,) = [line for line in out.splitlines() if "cannot be read" in line]
    assert note.startswith("#2 ") and three_runs[1].name in note and "config.json" in note
    differ = out.split("config fields that differ")[1].splitlines()
    assert len([line for line in differ if line.strip().startswith(("model", "lr", "batch_size"))]) == 3
    assert "augment" not in out.split("config fields that differ")[1]


def test_compare_with_one_readable_config_says_there_is_nothing_to_compare(three_runs, runs_dir, capsys):
    (three_runs[1] / "config.json").write_text("not json")
    refs = ["20260101-000001", "20260101-000002"]
    assert main(["runs", "--runs-dir", str(runs_dir), "--compare", *refs]) == 0
    out = capsys.readouterr().out
    assert "config fields that differ" not in out and "every config field is the same" not in out
    assert "only one run's config can be read" in out


async def test_the_comparison_screen_names_a_run_whose_config_cannot_be_read(three_runs, runs_dir, synthetic_dir):
    from mnist_tui.app.screens.compare_runs import RunComparisonScreen

    (three_runs[1] / "config.json").write_bytes(b"\x00garbage{")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.push_screen(RunComparisonScreen(three_runs))
        await wait_until(pilot, lambda: "validation accuracy" in screen_text(app))
        await wait_until(pilot, lambda: "its config cannot be read" in screen_text(app))
        assert "#2 " + three_runs[1].name in screen_text(app).replace("\n", " ")
