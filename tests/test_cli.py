"""The headless CLI as a user runs it: output, run folders, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mnist_tui.cli.main import main


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mnist_tui", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow  # trains or starts a process
def test_train_evaluate_and_runs(synthetic_dir, runs_dir, capsys):
    common = ["--runs-dir", str(runs_dir), "--data-dir", str(synthetic_dir)]
    assert main(["train", "--model", "1-layer", "--epochs", "2", "--threads", "1", "--precision", "fp32", *common]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "val_accuracy" in out
    assert "test_acc:" in out and str(runs_dir) in out
    (folder,) = runs_dir.iterdir()

    assert main(["evaluate", folder.name, *common]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "confusion matrix" in out and "precision" in out and "row percentages" in out

    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "1-layer" in out and "finished" in out


def test_evaluate_several_runs_scores_their_ensemble(synthetic_dir, runs_dir, capsys):
    common = ["--runs-dir", str(runs_dir), "--data-dir", str(synthetic_dir)]
    for seed in ("0", "1"):
        assert (
            main(
                [
                    "train",
                    "--model",
                    "1-layer",
                    "--epochs",
                    "1",
                    "--seed",
                    seed,
                    "--threads",
                    "1",
                    "--precision",
                    "fp32",
                    "--train-subset",
                    "200",
                    *common,
                ]
            )
            == 0
        )
    names = sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    capsys.readouterr()
    assert main(["evaluate", *names, *common]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names)
    assert "ensemble of 2 (mean of their softmax probabilities): test accuracy" in out and "confusion matrix" in out

    assert main(["evaluate", names[0], names[0], *common]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "mnist-tui: error: the same run is listed twice; an ensemble needs different runs"
    )


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("1-layer", "3-layer", "ds-cnn-v1", "vgg", "compact"):
        assert name in out
    assert "5,226" in out


def test_data_info_on_synthetic(synthetic_dir, capsys):
    assert main(["data", "info", "--data-dir", str(synthetic_dir)]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "train" in out and "test" in out


@pytest.mark.slow
def test_errors_are_one_line_without_traceback(tmp_path, synthetic_dir):
    cases = [
        ["train", "--model", "nope", "--data-dir", str(synthetic_dir)],
        ["train", "--epochs", "0", "--data-dir", str(synthetic_dir)],
        ["evaluate", "missing-run", "--runs-dir", str(tmp_path)],
        ["train", "--data-dir", str(tmp_path / "empty"), "--runs-dir", str(tmp_path / "r")],
        ["data", "info", "--data-dir", str(tmp_path / "empty")],
        ["train", "--device", "cuda", "--data-dir", str(synthetic_dir), "--runs-dir", str(tmp_path / "r")],
    ]
    for args in cases:
        done = run_cli(*args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("mnist-tui: error:"), done.stderr


def test_corrupted_data_is_named(tmp_path):
    from mnist_tui.engine import data
    from mnist_tui.engine.synthetic import write_synthetic

    write_synthetic(tmp_path, 50, 10)
    path = data.raw_dir(tmp_path) / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    done = run_cli("data", "info", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert "t10k-images-idx3-ubyte is corrupted" in done.stderr
    assert path.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--runs-dir", "R", "--data-dir", "D"],
        ["--data-dir", "D", "--runs-dir", "R"],
        ["app", "--runs-dir", "R", "--data-dir", "D"],
    ],
)
def test_bare_options_open_the_app_with_them(argv, monkeypatch):
    """`mnist-tui --runs-dir X` is what the README and the menu tell the user to type: it opens the app."""
    import mnist_tui.app.app

    opened = []

    class Fake:
        def run(self):
            opened.append("ran")

    monkeypatch.setattr(
        mnist_tui.app.app, "make_app", lambda runs_dir, data_dir: opened.append((runs_dir, data_dir)) or Fake()
    )
    assert main(argv) == 0
    assert opened == [("R", "D"), "ran"]


def test_bare_runs_dir_keeps_the_default_data_dir(monkeypatch):
    import mnist_tui.app.app

    seen = []

    class Fake:
        def run(self):
            pass

    monkeypatch.setattr(
        mnist_tui.app.app, "make_app", lambda runs_dir, data_dir: seen.append((runs_dir, data_dir)) or Fake()
    )
    assert main(["--runs-dir", "R"]) == 0
    assert seen == [("R", None)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--lr", "abc"], "argument --lr: invalid float value: 'abc' (see mnist-tui train --help)"),
        (["train", "--procs", "abc"], "argument --procs: invalid int value: 'abc' (see mnist-tui train --help)"),
        (["serve", "--port", "x"], "argument --port: invalid int value: 'x' (see mnist-tui serve --help)"),
        (["nope"], "argument COMMAND: invalid choice: 'nope'"),
        (["evaluate"], "the following arguments are required: run (see mnist-tui evaluate --help)"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_argument_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mnist-tui: error: ") and message in lines[0] and lines[0].endswith("--help)")
    assert captured.out == ""


# ---------------------------------------------------------------- predict: which run answers, and why


@pytest.fixture
def digit_png(synthetic_dir, tmp_path):
    from PIL import Image

    from mnist_tui.engine import data

    path = tmp_path / "digit.png"
    Image.fromarray(data.load_arrays(synthetic_dir).test_images[0]).save(path)
    return path


def test_predict_says_the_best_run_answered_when_no_default_is_marked(trained_runs_dir, digit_png, capsys):
    assert main(["predict", str(digit_png), "--runs-dir", str(trained_runs_dir)]) == 0
    (note,) = capsys.readouterr().err.splitlines()
    assert note.startswith("mnist-tui: using run ") and "the default" not in note
    assert "best test accuracy" in note and "no run is marked default" in note and "--run" in note


def test_predict_says_the_marked_default_answered(trained_runs_dir, digit_png, capsys):
    from mnist_tui.runfolder import runs

    (folder,) = trained_runs_dir.iterdir()
    runs.mark_default(trained_runs_dir, folder)
    assert main(["predict", str(digit_png), "--runs-dir", str(trained_runs_dir)]) == 0
    (note,) = capsys.readouterr().err.splitlines()
    assert note.startswith(f"mnist-tui: using run {folder.resolve()} (marked default") and "--run" in note


def test_predict_with_only_a_training_run_names_it_and_its_run_flag_works_as_in_evaluate(
    trained_runs_dir, digit_png, capsys
):
    import os
    import socket
    import time

    from mnist_tui.runfolder import live
    from mnist_tui.runfolder.names import RUNNING_SUFFIX, stem
    from mnist_tui.runfolder.record import SUMMARY

    (folder,) = trained_runs_dir.iterdir()
    (folder / SUMMARY).unlink()
    folder = folder.rename(folder.with_name(stem(folder) + RUNNING_SUFFIX))
    live.write_live(folder, {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()})

    assert main(["predict", str(digit_png), "--runs-dir", str(trained_runs_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mnist-tui: error: "), err
    assert "still training" in err and folder.name in err and "--run" in err and "train one first" not in err

    assert main(["predict", str(digit_png), "--runs-dir", str(trained_runs_dir), "--run", folder.name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{digit_png}: ")


def test_stop_promises_a_checkpoint_only_when_an_epoch_has_ended(tmp_path, capsys):
    import os

    from mnist_tui.runfolder import live
    from mnist_tui.runfolder.record import CONFIG, RESUME, write_json

    folder = tmp_path / "20260101-120000_3-layer_running"
    folder.mkdir()
    write_json(folder / CONFIG, {"model": "3-layer", "epochs": 3})
    live.write_live(folder, live.live_record(os.getpid(), "run1"))  # this process: a live writer
    assert main(["stop", folder.name, "--runs-dir", str(tmp_path)]) == 0
    assert "no epoch has ended yet, so it leaves no checkpoint" in capsys.readouterr().out
    (folder / RESUME).write_bytes(b"saved")
    assert main(["stop", folder.name, "--runs-dir", str(tmp_path)]) == 0
    assert "its checkpoint is kept; resume with `mnist-tui train --resume" in capsys.readouterr().out
