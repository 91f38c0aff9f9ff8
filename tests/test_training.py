"""A real short training on synthetic data, run folders, checkpoints, stop, early stopping and the CLI."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from mnist_tui.engine.config import make_config
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.checkpoint import load_checkpoint
from mnist_tui.runfolder.names import create_run_dir, finalize
from mnist_tui.runfolder.record import RunError, read_metrics
from mnist_tui.training.train import fit


def test_training_lowers_loss_and_writes_the_run_folder(tiny_config, runs_dir):
    events = []
    result = fit(tiny_config(model="3-layer", epochs=3), events.append)
    assert result.status == "finished"
    epochs = [e for e in events if isinstance(e, ev.EpochCompleted)]
    assert len(epochs) == 3
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert any(isinstance(e, ev.BatchProgress) for e in events)
    assert isinstance(events[-1], ev.RunFinished)

    folder = result.run_dir
    assert folder.parent == runs_dir
    assert folder.name.endswith(f"_3-layer_acc{result.summary.test_acc * 100:.2f}")
    assert {p.name for p in folder.iterdir()} == {
        "config.json",
        "metrics.csv",
        "best.pt",
        "confusion.json",
        "summary.json",
        "events.jsonl",
        "live.json",
    }
    summary = json.loads((folder / "summary.json").read_text())
    for key in (
        "model",
        "augment",
        "params",
        "epochs_run",
        "best_epoch",
        "val_acc",
        "test_acc",
        "train_seconds",
        "stopped_early",
        "status",
    ):
        assert key in summary
    assert summary["status"] == "finished" and summary["epochs_run"] == 3
    assert summary["test_acc"] > 0.5  # synthetic bars are easy
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == "3-layer" and config["resolved"]["device"] == "cpu"
    assert len(read_metrics(folder)) == 3
    counts = json.loads((folder / "confusion.json").read_text())["counts"]
    assert sum(map(sum, counts)) == 200
    assert not list(folder.glob(".*tmp"))  # atomic writes leave nothing behind


def test_checkpoint_round_trip_gives_the_same_predictions(tiny_config):
    result = fit(tiny_config(epochs=1))
    model, checkpoint = load_checkpoint(result.run_dir)
    assert checkpoint["model_name"] == "1-layer"
    assert checkpoint["normalization"] == {"mean": 0.1307, "std": 0.3081}
    assert checkpoint["config"]["epochs"] == 1
    x = torch.randn(4, 1, 28, 28)
    result.model.eval()
    assert torch.allclose(model(x), result.model(x), atol=1e-5)


def test_mismatched_checkpoint_gets_a_clear_error(tiny_config, tmp_path):
    result = fit(tiny_config(epochs=1))
    checkpoint = torch.load(result.run_dir / "best.pt", weights_only=True)
    checkpoint["model_name"], checkpoint["model_args"] = "3-layer", {}
    torch.save(checkpoint, tmp_path / "best.pt")
    with pytest.raises(RunError, match="do not match the 3-layer architecture"):
        load_checkpoint(tmp_path)


def test_stop_flag_cancels_after_the_current_batch(tiny_config):
    stop = threading.Event()
    seen = []

    def report(event):
        seen.append(event)
        if isinstance(event, ev.EpochCompleted):
            stop.set()

    result = fit(tiny_config(epochs=5), report, stop)
    assert result.status == "cancelled"
    assert result.summary.epochs_run == 1
    assert result.run_dir.name.endswith("_1-layer_cancelled")
    assert (result.run_dir / "best.pt").exists()
    assert json.loads((result.run_dir / "summary.json").read_text())["status"] == "cancelled"


def test_early_stopping_keeps_the_best_weights(tiny_config, monkeypatch):
    from mnist_tui.engine.evaluate import Metrics
    from mnist_tui.training import train

    real, losses = train.evaluate, iter([0.9, 0.5, 0.7, 0.8, 0.6, 0.4, 0.3, 0.2])  # best at epoch 2, then worse twice

    def scripted(*args, **kwargs):  # train calls evaluate for validation only (the test pass has its own path)
        metrics = real(*args, **kwargs)
        return Metrics(next(losses), metrics.acc, metrics.predictions)

    monkeypatch.setattr(train, "evaluate", scripted)
    result = fit(tiny_config(epochs=8, patience=2))
    summary = result.summary
    assert summary.stopped_early and summary.epochs_run == 4 and summary.best_epoch == 2
    saved = torch.load(result.run_dir / "best.pt", weights_only=True)
    assert saved["metrics"]["epoch"] == 2


def test_keep_last_tests_the_final_weights_even_when_validation_got_worse(tiny_config):
    # A constant lr of 0.5 with SGD makes validation loss jump about, so the last epoch is rarely the best.
    best = fit(tiny_config(epochs=4, patience=0, lr=0.5, optimizer="sgd", schedule="constant"))
    last = fit(tiny_config(epochs=4, patience=0, lr=0.5, optimizer="sgd", schedule="constant", keep="last"))
    assert last.summary.best_epoch == 4 and last.summary.kept == "last"
    assert last.summary.val_acc == last.history[-1]["val_acc"]
    saved = torch.load(last.run_dir / "best.pt", weights_only=True)
    assert saved["metrics"]["epoch"] == 4
    # The same seed trains the same weights; only which epoch is kept differs.
    assert [row["val_loss"] for row in best.history] == pytest.approx([row["val_loss"] for row in last.history])
    lowest = min(range(4), key=lambda i: best.history[i]["val_loss"]) + 1
    assert best.summary.best_epoch == lowest and best.summary.kept == "best"


def test_same_seed_same_result(tiny_config):
    a = fit(tiny_config(epochs=1, seed=7))
    b = fit(tiny_config(epochs=1, seed=7))
    assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], rel=1e-6)
    assert a.run_dir != b.run_dir  # never overwritten


def test_failure_marks_the_folder_failed(tiny_config, runs_dir):
    def explode(event):
        if isinstance(event, ev.EpochCompleted):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fit(tiny_config(epochs=2), explode)
    (folder,) = runs_dir.iterdir()
    assert folder.name.endswith("_failed")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "failed" and "boom" in summary["reason"]
    assert runs.list_runs(runs_dir)[0].status == "failed"


def test_vgg_keeps_its_recipe():
    config = make_config("vgg")
    assert config.schedule == "step" and config.label_smoothing == 0.1
    assert make_config("vgg", schedule="onecycle").schedule == "onecycle"


def test_bad_config_values_are_one_line():
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        make_config("1-layer", epochs=0)
    with pytest.raises(ValueError, match="unknown preset"):
        make_config(None, "turbo")


def test_runs_started_in_the_same_second_list_newest_first(runs_dir, monkeypatch):
    monkeypatch.setattr("mnist_tui.runfolder.names.time.strftime", lambda fmt: "20260101-120000")
    made = [create_run_dir(runs_dir, model, False) for model in ("3-layer", "3-layer", "3-layer", "1-layer")]
    finished = [finalize(made[0], "finished", 0.99), finalize(made[1], "finished", 0.065), *made[2:]]
    assert [r.path for r in runs.list_runs(runs_dir)] == [finished[3], finished[2], finished[1], finished[0]]


@pytest.mark.parametrize("steps", range(1, 13))
def test_onecycle_runs_any_number_of_steps(steps):
    from mnist_tui.training.train import make_optimizer

    config = make_config("1-layer", epochs=1, lr=1e-2)
    optimizer, scheduler, per_batch = make_optimizer(config, [torch.nn.Parameter(torch.zeros(1))], steps)
    rates = []  # the rate each batch trains with, as in the training loop
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    assert all(0 < rate <= 1e-2 + 1e-12 for rate in rates)
    if steps >= 3:
        assert per_batch and rates[-1] < 1e-6 < max(rates)  # up, then annealed to almost nothing


def test_make_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown training setting: epohcs"):
        make_config("1-layer", epohcs=3)


def test_fit_leaves_the_callers_threads_and_random_state_as_they_were(tiny_config):
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    result = fit(tiny_config(epochs=1, threads=threads + 1, seed=3))
    assert torch.get_num_threads() == threads  # the process's entry point sets threads (prepare_process)
    assert torch.equal(torch.get_rng_state(), rng)  # seeded for the model's weights, in a fork
    resolved = json.loads((result.run_dir / "config.json").read_text())["resolved"]
    assert resolved["threads"] == threads  # what it trained with


def test_prepare_process_sets_the_configs_thread_count(tiny_config):
    from mnist_tui.training.train import prepare_process

    before = torch.get_num_threads()
    try:
        assert prepare_process(tiny_config(threads=1)) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_train_one_epoch_takes_steps_reports_and_stops(tiny_config):
    from mnist_tui.runfolder.recorder import Recorder
    from mnist_tui.training.train import EpochReport, TrainStep, make_setup, train_one_epoch

    setup = make_setup(tiny_config())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    step = TrainStep(torch.optim.SGD(model.parameters(), lr=0.1), setup.device)
    batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) for _ in range(setup.steps)]
    events, stop = [], threading.Event()
    row = train_one_epoch(model, batches, step, EpochReport(setup, 1, Recorder(None, "run", events.append), stop))
    assert row["epoch"] == 1 and row["lr"] == 0.1 and 0.0 <= row["train_acc"] <= 1.0
    assert isinstance(events[-1], ev.BatchProgress) and events[-1].batch == setup.steps

    stop.set()
    weights = model[1].weight.detach().clone()
    assert (
        train_one_epoch(model, batches, step, EpochReport(setup, 2, Recorder(None, "run", events.append), stop)) is None
    )
    assert not torch.equal(model[1].weight, weights)  # the batch under way was finished first
