"""Runs that outlive their viewer: live files, liveness, signals, stop, watch, resume, and a service that never dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live, runs
from mnist_tui.runfolder.names import create_run_dir, find_renamed, reopen, stem
from mnist_tui.runfolder.record import CHECKPOINT, CONFIG, RESUME, SUMMARY, RunError, Summary, write_json, write_metrics
from mnist_tui.service.worker import TrainingService
from mnist_tui.training.train import fit

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_ends(service, count: int) -> dict:
    """The final event of each of `count` runs, by run id."""
    ended = {}

    def another():
        event = service.next_event(0.2)
        if isinstance(event, (ev.RunFinished, ev.RunFailed)):
            ended[event.run_id] = event
        return len(ended) == count

    wait_for(another, what=f"{count} runs to end")
    return ended


def only_run(runs_dir: Path) -> Path:
    (folder,) = [p for p in runs_dir.iterdir() if not p.name.startswith(".") and p.is_dir()]
    return folder


def logged(folder_of, kind, **match):
    """A predicate: the run's event log holds an event of `kind` with these fields."""

    def check():
        folder = folder_of()
        if folder is None:
            return None
        found, _ = live.read_events(folder)
        return next(
            (e for e in found if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())), None
        )

    return check


def first_folder(runs_dir: Path):
    return lambda: (
        next((p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), None)
        if runs_dir.is_dir()
        else None
    )


def train_args(synthetic_dir, runs_dir, *extra):
    return [
        "train",
        "--model",
        "1-layer",
        "--batch-size",
        "64",
        "--threads",
        "1",
        "--precision",
        "fp32",
        "--data-dir",
        str(synthetic_dir),
        "--runs-dir",
        str(runs_dir),
        "--augment",
        *extra,
    ]


def weights(folder: Path) -> dict:
    return torch.load(folder / CHECKPOINT, weights_only=True)["state_dict"]


# ---------------------------------------------------------------- the live files


def test_a_training_run_keeps_a_bounded_event_log_and_a_heartbeat(tiny_config, runs_dir):
    result = fit(tiny_config(epochs=2))
    found, _ = live.read_events(result.run_dir)
    kinds = [type(e).__name__ for e in found]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished" and kinds.count("EpochCompleted") == 2
    assert found[-1].run_dir == str(result.run_dir)  # the end names the final folder
    record = json.loads((result.run_dir / live.LIVE).read_text())
    assert record["pid"] == os.getpid() and record["heartbeat"] >= record["started"]
    assert not (result.run_dir / RESUME).exists()  # a finished run has nothing to resume


def test_event_log_throttles_progress_and_grows_sparser_with_age(tmp_path):
    log = live.EventLog(tmp_path, interval=1.0)
    for batch in range(1, 1001):  # a burst far faster than 1 Hz: one line, plus the epoch's last batch
        log(ev.BatchProgress("r", 1, 1, batch, 1000, 0.5, 100.0, 1.0))
    found, _ = live.read_events(tmp_path)
    assert [e.batch for e in found] == [1, 1000]
    log.started -= 6000  # a run 100 minutes old logs progress every 10 s, not every second
    log._last_progress = time.monotonic() - 5
    log(ev.BatchProgress("r", 1, 1, 5, 1000, 0.5, 100.0, 1.0))
    assert len(live.read_events(tmp_path)[0]) == 2


def test_a_torn_last_line_waits_and_garbage_is_skipped(tmp_path):
    (tmp_path / live.EVENTS).write_text(
        'not json\n{"type": "Nope"}\n' + live.event_to_line(ev.RunFailed("r", "d", "boom")) + '{"type": "RunFail'
    )
    found, offset = live.read_events(tmp_path)
    assert [type(e).__name__ for e in found] == ["RunFailed"]
    assert offset < (tmp_path / live.EVENTS).stat().st_size


# ---------------------------------------------------------------- liveness


def test_a_running_folder_whose_process_is_gone_is_interrupted_everywhere(tiny_config, runs_dir):
    folder = create_run_dir(runs_dir, "1-layer", False)
    write_json(folder / CONFIG, tiny_config().to_dict())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live.write_live(folder, live.live_record(dead.pid))
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "interrupted" and f"pid {dead.pid}" in info.reason
    assert info.name.endswith("_interrupted") and not folder.exists()
    assert json.loads((info.path / SUMMARY).read_text())["status"] == "interrupted"
    out = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "runs", "--runs-dir", str(runs_dir)], capture_output=True, text=True
    )
    assert "interrupted" in out.stdout and "is gone" in out.stdout


def test_a_live_writer_on_another_host_is_judged_by_its_heartbeat(tmp_path):
    record = {"pid": 1, "host": "elsewhere", "started": 0, "heartbeat": time.time()}
    live.write_live(tmp_path, record)
    assert live.writer_gone(tmp_path) is None
    assert "no heartbeat from elsewhere" in live.writer_gone(tmp_path, now=time.time() + live.STALE_AFTER + 5)


# ---------------------------------------------------------------- signals, stop, watch and resume (real processes)


@pytest.mark.slow
def test_sigterm_interrupts_train_and_resume_ends_bit_for_bit_like_an_uninterrupted_run(synthetic_dir, tmp_path):
    """At one thread, a run stopped by SIGTERM and resumed ends with the same weights and test accuracy."""
    alone, broken = tmp_path / "alone", tmp_path / "broken"
    done = subprocess.run(
        [sys.executable, "-m", "mnist_tui", *train_args(synthetic_dir, alone, "--epochs", "3")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    proc = cli(*train_args(synthetic_dir, broken, "--epochs", "3"))
    wait_for(logged(first_folder(broken), ev.EpochCompleted, epoch=1), what="epoch 1")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    folder = only_run(broken)
    assert folder.name.endswith("_interrupted")
    summary = json.loads((folder / SUMMARY).read_text())
    assert summary["status"] == "interrupted" and summary["reason"] == "stopped by SIGTERM"

    resumed = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "train", "--resume", stem(folder), "--runs-dir", str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    (a,), (b,) = runs.list_runs(alone), runs.list_runs(broken)
    assert b.status == "finished" and b.epochs_run == 3 and b.test_acc == a.test_acc
    wa, wb = weights(a.path), weights(b.path)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((b.path / SUMMARY).read_text())["resumed"] == 1


SERVICE_SCRIPT = textwrap.dedent("""
    import sys, time
    from mnist_tui.engine.config import make_config
    from mnist_tui.service.worker import TrainingService
    config = make_config("1-layer", epochs=int(sys.argv[3]), batch_size=64, threads=1, precision="fp32",
                         data_dir=sys.argv[1], runs_dir=sys.argv[2])
    service = TrainingService(max_jobs=1)
    service.start(config)
    print("started", flush=True)
    time.sleep(600)
""")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL])
def test_a_run_outlives_the_app_that_started_it(synthetic_dir, runs_dir, sig):
    """The parent (a real service in its own process, like the app) dies; the detached run trains on to the end."""
    parent = subprocess.Popen(
        [sys.executable, "-c", SERVICE_SCRIPT, str(synthetic_dir), str(runs_dir), "3"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_for(logged(first_folder(runs_dir), ev.RunStarted), what="the run to start")
    os.killpg(parent.pid, sig)  # the whole terminal session gets it, as when tmux or SSH goes away
    parent.wait(timeout=30)
    ended = wait_for(
        logged(
            lambda: find_renamed(runs_dir, stem(first_folder(runs_dir)())) or first_folder(runs_dir)(),
            ev.RunFinished,
        ),
        what="the run to finish",
    )
    assert ended.status == "finished"
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "finished" and info.test_acc is not None


@pytest.mark.slow
def test_a_machine_crash_is_marked_interrupted_at_once_and_resume_completes_it(synthetic_dir, runs_dir):
    parent = subprocess.Popen(
        [sys.executable, "-c", SERVICE_SCRIPT, str(synthetic_dir), str(runs_dir), "200"],
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_for(logged(first_folder(runs_dir), ev.EpochCompleted, epoch=1), what="epoch 1")
    pid = live.read_live(first_folder(runs_dir)())["pid"]
    parent.kill()
    os.kill(pid, signal.SIGKILL)  # parent and child gone at once, as in a power cut
    parent.wait()
    wait_for(lambda: not live.pid_alive(pid), timeout=10, what="the child to die")
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "interrupted" and info.epochs_run >= 1
    config = json.loads((info.path / CONFIG).read_text())
    config["epochs"] = info.epochs_run + 1  # finish soon: resume runs to the planned epochs
    write_json(info.path / CONFIG, config)
    with TrainingService(max_jobs=1) as service:
        run_id = service.resume(info.path)
        seen = []
        wait_for(
            lambda: (
                (e := service.next_event(0.2)) and (seen.append(e) or isinstance(e, (ev.RunFinished, ev.RunFailed)))
            ),
            what="the resumed run to end",
        )
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].status == "finished", seen[-1]
    assert [e.epoch for e in seen if isinstance(e, ev.EpochCompleted)][-1] == info.epochs_run + 1
    final = Path(service.get(run_id).run_dir)
    assert stem(final) == stem(info.path) and final.name.endswith(f"_acc{seen[-1].summary.test_acc * 100:.2f}")


@pytest.mark.slow
def test_stop_and_watch_from_another_terminal(synthetic_dir, runs_dir):
    trainer = cli(*train_args(synthetic_dir, runs_dir, "--epochs", "5000", "--patience", "0"))
    wait_for(logged(first_folder(runs_dir), ev.EpochCompleted, epoch=1), what="epoch 1")
    listing = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "runs", "--runs-dir", str(runs_dir)], capture_output=True, text=True
    )
    assert "running" in listing.stdout and "epoch " in listing.stdout and "batch " in listing.stdout
    watcher = cli("watch", "--runs-dir", str(runs_dir))
    time.sleep(1.0)
    stopped = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "stop", "--all", "--runs-dir", str(runs_dir)],
        capture_output=True,
        text=True,
    )
    assert stopped.returncode == 0 and "asked" in stopped.stdout
    out, err = watcher.communicate(timeout=60)
    trainer.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert "cancelled: run folder" in out
    (info,) = runs.list_runs(runs_dir)
    assert info.status == "cancelled" and info.has_checkpoint and (info.path / RESUME).exists()


# ---------------------------------------------------------------- the service never dies


FAULT_SITE = textwrap.dedent("""
    import errno, os
    _replace = os.replace
    def replace(src, dst, *a, **k):
        if str(dst).endswith("metrics.csv") and "_1-layer" in str(dst):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return _replace(src, dst, *a, **k)
    os.replace = replace
""")


@pytest.mark.slow
def test_a_full_disk_fails_that_run_and_the_queue_goes_on(tiny_config, runs_dir, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAULT_SITE)  # the children's writes of metrics.csv hit ENOSPC
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    with TrainingService(max_jobs=1) as service:
        first = service.start(tiny_config(model="1-layer", epochs=1))
        second = service.start(tiny_config(model="ds-cnn-v1", epochs=1))
        ended = wait_for_ends(service, 2)
    assert isinstance(ended[first], ev.RunFailed) and "No space left on device" in ended[first].reason
    assert isinstance(ended[second], ev.RunFinished) and ended[second].status == "finished"
    statuses = sorted(r.status for r in runs.list_runs(runs_dir))
    assert statuses == ["failed", "finished"]


def test_a_write_error_in_the_parent_fails_that_run_only(tiny_config, runs_dir, monkeypatch):
    import errno

    real = write_json
    calls = []

    def full_once(path, payload):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, payload)

    monkeypatch.setattr("mnist_tui.service.worker.write_json", full_once)
    with TrainingService(max_jobs=1) as service:
        first = service.start(tiny_config(epochs=1))
        second = service.start(tiny_config(epochs=1))
        ended = wait_for_ends(service, 2)
    assert isinstance(ended[first], ev.RunFailed) and "No space left on device" in ended[first].reason
    assert isinstance(ended[second], ev.RunFinished) and ended[second].status == "finished"


@pytest.mark.parametrize("keep, expected", [("best", 0.97), ("last", 0.96)])
def test_a_live_run_lists_the_validation_accuracy_of_the_epoch_it_keeps(tmp_path, keep, expected):
    folder = tmp_path / "20260101-120000_3-layer_running"
    folder.mkdir()
    write_json(folder / CONFIG, {"model": "3-layer", "epochs": 5, "keep": keep})
    rows = [
        {"epoch": 1, "train_loss": 0.5, "train_acc": 0.9, "val_loss": 0.10, "val_acc": 0.95, "lr": 1e-3, "seconds": 1},
        {"epoch": 2, "train_loss": 0.3, "train_acc": 0.95, "val_loss": 0.08, "val_acc": 0.97, "lr": 1e-3, "seconds": 1},
        {"epoch": 3, "train_loss": 0.2, "train_acc": 0.97, "val_loss": 0.09, "val_acc": 0.96, "lr": 1e-3, "seconds": 1},
    ]
    write_metrics(folder, rows)
    live.write_live(folder, live.live_record(os.getpid(), "run1"))  # this process: a live writer
    info = runs.read_run(folder)
    assert info.status == "running" and info.val_acc == pytest.approx(expected)
    # Resumed: the summary its last life wrote is still there, with that life's figures.
    write_json(folder / SUMMARY, {"model": "3-layer", "status": "cancelled", "val_acc": 0.5})
    assert runs.read_run(folder).val_acc == pytest.approx(expected)


def test_a_reopened_folder_is_not_marked_interrupted_before_its_trainer_starts(tmp_path):
    """Resuming renames the folder back to _running; its old live.json names the last life's dead process.
    A viewer looking in that moment must not take it for a dead run (and rename it back)."""
    folder = tmp_path / "20260101-120000_3-layer_cancelled"
    folder.mkdir()
    write_json(folder / CONFIG, {"model": "3-layer", "epochs": 5})
    write_json(folder / SUMMARY, {"model": "3-layer", "status": "cancelled", "epochs_run": 1})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live.write_live(folder, live.live_record(dead.pid, "run1"))
    reopened = reopen(folder)
    info = runs.read_run(reopened)
    assert info.status == "running" and reopened.exists() and reopened.name.endswith("_running")


def test_a_summary_whose_status_is_not_a_string_reads_as_failed():
    assert Summary.from_dict({"status": []}).status == "failed"


def test_a_run_that_another_process_just_reopened_says_so_in_one_line(tmp_path):
    folder = tmp_path / "20260101-120000_3-layer_cancelled"
    folder.mkdir()
    reopen(folder)  # the first resumer
    with pytest.raises(RunError, match="already being resumed"):
        reopen(folder)  # the second still holds the old name
