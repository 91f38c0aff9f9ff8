"""The training service: detached children, cancel, crash safety, parallel runs, DDP, and the Textual fd trap."""

from __future__ import annotations

import json
import os
import signal
import time

import torch

from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.checkpoint import load_checkpoint
from mnist_tui.service.worker import TrainingService


def collect(service, until, timeout=120.0):
    """Read events until `until(event)` is true; return all events seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = service.next_event(timeout=0.2)
        if event is None:
            continue
        seen.append(event)
        if until(event):
            return seen
    raise AssertionError(f"timed out; saw {[type(e).__name__ for e in seen]}")


def final(event):
    return isinstance(event, (ev.RunFinished, ev.RunFailed))


def test_run_completes_in_a_detached_child(tiny_config):
    with TrainingService(max_jobs=1) as service:
        run_id = service.start(tiny_config(epochs=2))
        started = collect(service, lambda e: isinstance(e, ev.RunStarted))
        handle = service.get(run_id)
        assert handle.pid and handle.pid != os.getpid()
        if hasattr(os, "getsid"):  # its own session: a hangup of our terminal never reaches it
            assert os.getsid(handle.pid) == handle.pid != os.getsid(0)
        seen = started + collect(service, final)
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].status == "finished"
    assert sum(isinstance(e, ev.EpochCompleted) for e in seen) == 2
    assert any(isinstance(e, ev.BatchProgress) for e in seen)
    assert all(e.run_id == run_id for e in seen)
    assert (
        json.loads(handle.run_dir and open(os.path.join(handle.run_dir, "summary.json")).read())["status"] == "finished"
    )


def test_cancel_stops_at_a_batch_and_keeps_the_checkpoint(tiny_config):
    with TrainingService(max_jobs=1) as service:
        run_id = service.start(tiny_config(epochs=200))
        collect(service, lambda e: isinstance(e, ev.EpochCompleted))
        service.cancel(run_id)
        seen = collect(service, final, timeout=30)
        handle = service.get(run_id)
        handle.process.wait(timeout=10)
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].status == "cancelled"
    assert handle.process.returncode == 0  # it stopped by itself at a batch boundary, not killed
    summary = json.loads(open(os.path.join(handle.run_dir, "summary.json")).read())
    assert summary["status"] == "cancelled" and summary["epochs_run"] >= 1
    load_checkpoint(handle.run_dir)  # the best checkpoint so far is kept


def test_kill_9_is_reported_interrupted_and_the_folder_stays_consistent(tiny_config, runs_dir):
    with TrainingService(max_jobs=1) as service:
        run_id = service.start(tiny_config(epochs=200))
        collect(service, lambda e: isinstance(e, ev.EpochCompleted))
        handle = service.get(run_id)
        os.kill(handle.pid, signal.SIGKILL)
        seen = collect(service, final, timeout=10)
    ended = seen[-1]
    assert isinstance(ended, ev.RunFinished) and ended.status == "interrupted" and "SIGKILL" in ended.summary.reason
    (folder,) = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert folder.name.endswith("_interrupted")
    assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"
    assert not list(folder.glob(".*"))  # no half-written files left behind
    load_checkpoint(folder)  # what was complete is still loadable
    assert (folder / "resume.pt").exists()
    assert runs.list_runs(runs_dir)[0].status == "interrupted"


def test_two_runs_at_once_both_complete(tiny_config):
    with TrainingService(max_jobs=2) as service:
        a = service.start(tiny_config(model="1-layer", epochs=1))
        b = service.start(tiny_config(model="ds-cnn-v1", epochs=1))
        ended = set()
        collect(service, lambda e: final(e) and ended.add(e.run_id) is None and len(ended) == 2)
        handles = [service.get(a), service.get(b)]
    assert [h.status for h in handles] == ["finished", "finished"]
    assert handles[0].pid != handles[1].pid
    assert handles[0].run_dir != handles[1].run_dir


def _save_weights(rank, result):
    torch.save(
        {k: v.cpu() for k, v in result.model.state_dict().items()}, os.environ["DDP_TEST_OUT"] + f"/rank{rank}.pt"
    )
    if rank == 0:
        torch.save(result.history, os.environ["DDP_TEST_OUT"] + "/history.pt")


def test_two_rank_gloo_run_ends_with_identical_weights(tiny_config, tmp_path, monkeypatch):
    from mnist_tui.cli.distributed import launch

    monkeypatch.setenv("DDP_TEST_OUT", str(tmp_path))
    config = tiny_config(model="ds-cnn-v1", epochs=1, batch_size=32)
    assert launch(config, 2, after=_save_weights) == 0
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    params = [k for k in rank0 if "running" not in k and "num_batches" not in k]
    assert params and all(torch.equal(rank0[k], rank1[k]) for k in params)
    history = torch.load(tmp_path / "history.pt", weights_only=True)
    assert history[0]["val_loss"] < 2.3  # below chance (ln 10) after one epoch
    assert len(runs.list_runs(config.runs_dir)) == 1  # only rank 0 writes a run folder


async def test_training_starts_from_inside_a_running_textual_app(tiny_config):
    """Spawn from inside a running app: Textual's fd-less stdout/stderr used to break Process.start()."""
    from textual.app import App
    from textual.widgets import Static

    config = tiny_config(epochs=1)

    class Host(App):
        def compose(self):
            yield Static("waiting", id="status")

        def on_mount(self):
            self.service = TrainingService(max_jobs=1)
            self.run_id = self.service.start(config)
            self.run_worker(self.drain, thread=True)

        def drain(self):
            for event in self.service.iter_events():
                if final(event):
                    self.call_from_thread(self.query_one("#status", Static).update, f"done: {type(event).__name__}")

    app = Host()
    async with app.run_test() as pilot:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and app.service.get(app.run_id).active:
            await pilot.pause(0.2)
        await pilot.pause(0.3)
        handle = app.service.get(app.run_id)
        text = str(app.query_one("#status", Static).render())
        app.service.close()
    assert handle.status == "finished", handle.reason
    assert "done: RunFinished" in text
