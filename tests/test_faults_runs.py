"""Fault table, run folders: one bad folder never breaks the others, and the CLI answers in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from screen import screen_text
from test_app import wait_for

from mnist_tui.app.app import make_app
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.checkpoint import load_checkpoint
from mnist_tui.runfolder.record import CONFIG, LOG, METRICS, RESUME, SUMMARY
from mnist_tui.training.train import fit

BAD_FOLDERS = {
    "summary-list": {SUMMARY: "[1, 2]"},
    "summary-null": {SUMMARY: "null"},
    "config-list": {CONFIG: "[]"},
    "summary-nested": {SUMMARY: "[" * 100_000 + "]" * 100_000},
    "summary-huge": {SUMMARY: '{"pad": "' + "x" * (5 * 1024 * 1024) + '"}'},
    "summary-wrong-types": {SUMMARY: '{"status": "finished", "test_acc": "99%", "params": [1], "epochs_run": null}'},
}


@pytest.fixture
def good_run(trained_run):
    return trained_run.run_dir


@pytest.fixture
def messy_runs(good_run, tmp_path) -> Path:
    """The good run beside one folder per bad file, plus a short metrics.csv row in a folder of its own."""
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    import shutil

    shutil.copytree(good_run, runs_dir / good_run.name)
    for n, files in enumerate(BAD_FOLDERS.values()):
        folder = runs_dir / f"20200101-00000{n}_1-layer_acc90.00"
        folder.mkdir()
        (folder / CONFIG).write_text('{"model": "1-layer"}')
        for name, text in files.items():
            (folder / name).write_text(text)
    short = runs_dir / "20200101-000100_2-layer_cancelled"
    short.mkdir()
    (short / METRICS).write_text("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,0.5\n")
    return runs_dir


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mnist_tui", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("label", list(BAD_FOLDERS))
def test_a_bad_run_file_is_one_unreadable_row(messy_runs, label):
    index = list(BAD_FOLDERS).index(label)
    info = runs.read_run(messy_runs / f"20200101-00000{index}_1-layer_acc90.00")
    if label == "summary-wrong-types":
        assert info.status == "finished" and info.test_acc is None and info.params is None
    else:
        assert info.status == "unreadable" and info.reason.startswith("unreadable: ")


def test_a_short_metrics_row_is_skipped(messy_runs):
    info = runs.read_run(messy_runs / "20200101-000100_2-layer_cancelled")
    assert info is not None and info.epochs_run == 0


def test_the_cli_lists_evaluates_and_predicts_past_bad_folders(messy_runs, good_run, synthetic_dir, tmp_path):
    listing = run_cli("runs", "--runs-dir", str(messy_runs))
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("unreadable") >= 5 and good_run.name in listing.stdout
    evaluated = run_cli("evaluate", good_run.name[:15], "--runs-dir", str(messy_runs), "--data-dir", str(synthetic_dir))
    assert evaluated.returncode == 0, evaluated.stderr
    from PIL import Image, ImageDraw

    image = Image.new("L", (28, 28))
    ImageDraw.Draw(image).line([(14, 4), (14, 24)], fill=255, width=3)  # a one
    image.save(tmp_path / "digit.png")
    predicted = run_cli("predict", str(tmp_path / "digit.png"), "--runs-dir", str(messy_runs))
    assert predicted.returncode == 0, predicted.stderr
    assert runs.default_run(messy_runs).name == good_run.name


@pytest.mark.slow
async def test_the_runs_screen_survives_bad_folders(messy_runs, synthetic_dir):
    app = make_app(messy_runs, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen", 30)
        await wait_for(pilot, lambda: "unreadable" in screen_text(app), 30)
        await pilot.press("escape", "p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PredictScreen", 30)
        assert app.is_running


@pytest.mark.slow
def test_the_runs_dir_is_a_file_or_read_only(tmp_path, synthetic_dir):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    out = run_cli(
        "train", "--model", "1-layer", "--epochs", "1", "--runs-dir", str(blocker), "--data-dir", str(synthetic_dir)
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr and "runs dir" in out.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = run_cli(
            "train", "--model", "1-layer", "--epochs", "1", "--runs-dir", str(locked), "--data-dir", str(synthetic_dir)
        )
        assert out.returncode == 1 and "Traceback" not in out.stderr


@pytest.mark.slow
def test_an_unwritable_compare_json_prints_the_table_and_one_line(tmp_path, synthetic_dir):
    runs_dir = tmp_path / "runs"
    (runs_dir / "compare.json").mkdir(parents=True)  # a folder where the file goes: the write fails
    out = run_cli(
        "compare",
        "--epochs",
        "1",
        "--train-subset",
        "100",
        "--jobs",
        "2",
        "--threads",
        "1",
        "--runs-dir",
        str(runs_dir),
        "--data-dir",
        str(synthetic_dir),
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "could not write compare.json" in out.stderr and "3-layer-aug" in out.stdout


def test_nan_loss_fails_the_run_with_a_hint_and_keeps_the_last_good_checkpoint(tiny_config, runs_dir, monkeypatch):
    import torch.nn.functional as F

    from mnist_tui.training import train

    real, calls = F.cross_entropy, []

    def poisoned(*args, **kwargs):
        loss = real(*args, **kwargs)
        calls.append(1)
        return loss * float("nan") if len(calls) > 20 else loss  # fine through epoch 1, NaN in epoch 2

    monkeypatch.setattr(train.F, "cross_entropy", poisoned)
    with pytest.raises(train.TrainingDiverged):
        fit(tiny_config(epochs=3, batch_size=64))
    (folder,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    summary = json.loads((folder / SUMMARY).read_text())
    assert folder.name.endswith("_failed") and summary["status"] == "failed"
    assert "loss became NaN at epoch 2, batch" in summary["reason"] and "lower the learning rate" in summary["reason"]
    load_checkpoint(folder)  # epoch 1's weights are kept


def _train_until_epoch_1(synthetic_dir, runs_dir, *extra, model="1-layer"):
    from background import train_in_background

    return train_in_background(
        synthetic_dir, runs_dir, *extra, model=model, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_a_run_whose_folder_is_deleted_stops_with_one_line(synthetic_dir, runs_dir):
    """A training whose folder was deleted under it (a temporary runs dir removed, `rm -r`) has nowhere to
    record or be stopped from: it trained on for an hour in a benchmark. It stops and says why."""
    import shutil

    proc = _train_until_epoch_1(synthetic_dir, runs_dir)
    (folder,) = Path(runs_dir).glob("*_running")
    shutil.rmtree(folder)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "was deleted while the run trained" in out.strip().splitlines()[-1], out
    assert not Path(folder).exists() and not list(Path(runs_dir).iterdir())  # nothing recreated


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_once_stops_after_the_batch_and_keeps_the_checkpoint(synthetic_dir, runs_dir):
    import signal

    proc = _train_until_epoch_1(synthetic_dir, runs_dir)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "cancelled" and info.has_checkpoint and (info.path / RESUME).exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_on_a_piped_train_whose_reader_left_still_cancels_cleanly(synthetic_dir, runs_dir):
    """`mnist-tui train | tee log`, then Ctrl-C: the terminal ends tee too, so the trainer's output pipe
    breaks as it reports the end. It must still end as cancelled, exit 0, not die of BrokenPipeError."""
    import signal

    proc = _train_until_epoch_1(synthetic_dir, runs_dir)
    proc.stdout.close()  # the reader is gone
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "cancelled" and info.has_checkpoint


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_twice_aborts_in_one_line_and_the_run_can_be_resumed(synthetic_dir, runs_dir):
    import signal

    # Batches of 512 on the 3-layer model take long enough that the second Ctrl-C lands inside one. It is
    # sent once the first one was handled (its message is out): two signals that arrive while one torch
    # call runs reach Python's handler as one.
    proc = _train_until_epoch_1(synthetic_dir, runs_dir, "--batch-size", "512", model="3-layer")
    proc.send_signal(signal.SIGINT)
    first = proc.stderr.readline()
    while first and "stopping after this batch" not in first:
        first = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "stopping after this batch" in first
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "mnist-tui: interrupted"
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "interrupted" and info.reason == "aborted with a second Ctrl-C" and info.has_checkpoint


@pytest.mark.slow
def test_train_on_a_full_disk_prints_one_failed_line(synthetic_dir, runs_dir, tmp_path):
    from test_runfolder import FAULT_SITE

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAULT_SITE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_tui",
            "train",
            "--model",
            "1-layer",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--data-dir",
            str(synthetic_dir),
            "--runs-dir",
            str(runs_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout, out.stderr
    assert "failed: OSError: [Errno 28] No space left on device" in out.stdout
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "failed" and "No space left" in info.reason


@pytest.mark.slow
def test_the_worker_leaves_no_log_files_behind(tiny_config, runs_dir):
    from mnist_tui.service.worker import TrainingService

    with TrainingService(max_jobs=1) as service:
        service.start(tiny_config(epochs=1))
        service.wait(120)
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "finished"
    assert not (runs_dir / ".logs").exists() and not (info.path / LOG).exists()
