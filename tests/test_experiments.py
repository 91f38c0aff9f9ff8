"""Experiments: the statistics against values computed by hand, the spec's one-line errors, the study as the
queue on a journal file and on sqlite, two workers sharing a study, and a worker killed mid-trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_tui.experiments import stats
from mnist_tui.experiments.spec import SpecError, make_spec, parse_grid, parse_search, reference_spec

# ---------------------------------------------------------------- statistics, by hand


def test_a_cell_mean_has_its_t_interval():
    # mean 0.99, sd 0.01, n 3: half width t(0.975, 2) * 0.01 / sqrt(3) = 4.302653 * 0.0057735 = 0.0248414
    interval = stats.mean_interval([0.98, 0.99, 1.00])
    assert interval.mean == pytest.approx(0.99)
    assert interval.low == pytest.approx(0.99 - 0.0248414, abs=1e-6)
    assert interval.high == pytest.approx(0.99 + 0.0248414, abs=1e-6)


def test_one_seed_has_no_interval_and_no_order():
    one, other = stats.mean_interval([0.97]), stats.mean_interval([0.99])
    assert not one.known and one.overlaps(other)
    assert stats.tiers([one, other]) == [1, 1]


def test_an_effect_is_welch_with_its_degrees_of_freedom():
    # from (0.90, 0.92) to (0.95, 0.97): delta 0.05; each side's variance 0.0002, so var(delta) = 0.0001 + 0.0001;
    # Welch df = 0.0002^2 / (0.0001^2 + 0.0001^2) = 2; half = t(0.975, 2) * sqrt(0.0002) = 4.302653 * 0.0141421
    e = stats.effect("augment", False, True, [([0.90, 0.92], [0.95, 0.97])])
    assert e.delta == pytest.approx(0.05)
    assert e.low == pytest.approx(0.05 - 0.0608490, abs=1e-6) and e.high == pytest.approx(0.05 + 0.0608490, abs=1e-6)
    assert not e.resolved  # the interval holds zero


def test_effects_are_averaged_over_blocks_and_adjusted_for_the_number_of_comparisons():
    blocks = [([0.90, 0.92], [0.95, 0.97]), ([0.80, 0.82], [0.81, 0.83])]  # deltas 0.05 and 0.01
    e = stats.effect("augment", False, True, blocks, comparisons=2)
    assert e.delta == pytest.approx(0.03)
    # var = (0.0002 + 0.0002) / 2^2 = 0.0001; df = 0.0004^2 / (4 * 0.0001^2) = 4; Bonferroni: t(1 - 0.05/4, 4)
    half = 3.4954 * 0.01  # scipy.stats.t.ppf(0.9875, 4) = 3.4954
    assert e.high - e.delta == pytest.approx(half, abs=1e-4)


def test_a_clear_effect_is_resolved():
    e = stats.effect("model", "1-layer", "3-layer", [([0.980, 0.981, 0.982], [0.990, 0.991, 0.992])])
    assert e.resolved and e.low > 0


def test_overlapping_intervals_share_a_tier():
    a = stats.Interval(0.985, 0.980, 0.990, 3)
    b = stats.Interval(0.990, 0.985, 0.995, 3)
    c = stats.Interval(0.955, 0.950, 0.960, 3)
    assert stats.tiers([a, b, c]) == [1, 1, 2]


# ---------------------------------------------------------------- the spec: one line for every mistake


@pytest.mark.parametrize(
    "items, words",
    [
        (["modle=1-layer"], "'modle' is not a field"),
        (["epochs=1,two"], "epochs takes whole numbers, not 'two'"),
        (["augment=maybe"], "augment takes on/off"),
        (["lr"], "write FIELD=V1,V2"),
        (["epochs=1,1"], "lists a level twice"),
        (["seed=1,2"], "'seed' is not a field"),
    ],
)
def test_a_bad_grid_is_one_line(items, words):
    with pytest.raises(SpecError, match=words):
        parse_grid(items)


def test_grid_levels_take_the_types_of_train_options():
    assert parse_grid(["model=1-layer,3-layer", "augment=off,on", "lr=1e-3,3e-3"]) == {
        "model": ["1-layer", "3-layer"],
        "augment": [False, True],
        "lr": [1e-3, 3e-3],
    }


def test_a_search_range_and_its_mistakes():
    assert parse_search(["lr=1e-4:1e-2:log"])["lr"].log
    for item, words in [
        ("lr=1e-2:1e-4", "LOW must be below HIGH"),
        ("lr=0:1:log", "needs LOW above 0"),
        ("model=1:2", "only numeric fields"),
    ]:
        with pytest.raises(SpecError, match=words):
            parse_search([item])


def test_every_cell_is_checked_before_anything_is_queued():
    with pytest.raises(SpecError, match="cannot train: epochs must be at least 1"):
        make_spec("e", {}, ["epochs=0,1"])
    with pytest.raises(SpecError, match="needs at least one --grid or --search"):
        make_spec("e", {})
    with pytest.raises(SpecError, match="experiment name"):
        make_spec("has space", {}, ["epochs=1"])
    with pytest.raises(SpecError, match="needs --trials"):
        make_spec("e", {}, search_items=["lr=1e-4:1e-2:log"])


def test_the_reference_grid_is_four_cells_and_three_effects():
    spec = reference_spec("cmp", {"epochs": 1}, seeds=2)
    assert [(c["model"], c["augment"]) for c in spec.cells()] == [
        ("1-layer", False),
        ("2-layer", False),
        ("3-layer", False),
        ("3-layer", True),
    ]
    assert len(spec.trial_params()) == 8


# ---------------------------------------------------------------- the study: journal file and sqlite


def storages(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "runs" / "experiments.journal"), f"sqlite:///{tmp_path / 'exp.db'}"]


@pytest.mark.parametrize("kind", [0, 1], ids=["journal", "sqlite"])
def test_a_study_holds_the_queue_and_names_what_exists(tmp_path, kind):
    from mnist_tui.experiments import store
    from mnist_tui.experiments.work import take

    storage = storages(tmp_path)[kind]
    spec = make_spec("depth", {"epochs": 1}, ["model=1-layer,2-layer"], seeds=2)
    store.create(storage, spec)
    with pytest.raises(store.StoreError, match="already exists"):
        store.create(storage, spec)
    with pytest.raises(store.StoreError, match="experiments there: depth"):
        store.load(storage, "dpeth")
    study, loaded = store.load(storage, "depth")
    assert loaded == spec and store.list_names(storage) == ["depth"]
    records = store.trials(study)
    assert [(r.status, r.params["model"], r.seed) for r in records] == [
        ("queued", "1-layer", 0),
        ("queued", "1-layer", 1),
        ("queued", "2-layer", 0),
        ("queued", "2-layer", 1),
    ]
    first, second = take(study), take(study)
    assert (first.number, second.number) == (0, 1)  # the queue's order, each trial once
    assert [str(r.status) for r in store.trials(study)] == ["running", "running", "queued", "queued"]


# ---------------------------------------------------------------- working it, for real (tiny runs)


def cli(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_tui", *map(str, args)], capture_output=True, text=True, env=env, **kwargs
    )


def new_experiment(tmp_path, synthetic_dir, *extra, name="depth", cells=("1-layer", "2-layer"), seeds=2) -> Path:
    runs = tmp_path / "runs"
    done = cli(
        "experiment",
        "new",
        name,
        "--grid",
        f"model={','.join(cells)}",
        "--seeds",
        seeds,
        "--epochs",
        1,
        "--threads",
        1,
        "--precision",
        "fp32",
        "--data-dir",
        synthetic_dir,
        "--runs-dir",
        runs,
        *extra,
    )
    assert done.returncode == 0, done.stderr
    return runs


def report(runs: Path, name="depth", *extra) -> dict:
    done = cli("experiment", "report", name, "--json", "--runs-dir", runs, *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_folders(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if p.is_dir() and p.name[:8].isdigit())


@pytest.mark.slow
@pytest.mark.parametrize("sqlite", [False, True], ids=["journal", "sqlite"])
def test_work_trains_every_trial_once_and_the_report_has_each_cell_with_its_interval(tmp_path, synthetic_dir, sqlite):
    extra = ["--storage", f"sqlite:///{tmp_path / 'exp.db'}"] if sqlite else []
    runs = new_experiment(tmp_path, synthetic_dir, *extra)
    done = cli("experiment", "work", "depth", "--jobs", 2, "--runs-dir", runs, *extra, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "no trial left to take: 4 trained here" in done.stdout
    got = report(runs, "depth", *extra)
    assert got["counts"] == {"queued": 0, "running": 0, "done": 4, "failed": 0, "pruned": 0}
    assert [c["config"] for c in got["cells"]] == [{"model": "1-layer"}, {"model": "2-layer"}]
    for cell in got["cells"]:
        low, high = cell["test_acc_ci95"]
        assert cell["n"] == 2 and low <= cell["test_acc_mean"] <= high and len(cell["runs"]) == 2
    (effect,) = got["effects"]
    assert (effect["factor"], effect["from"], effect["to"]) == ("model", "1-layer", "2-layer")
    assert effect["ci95_pp"][0] <= effect["delta_pp"] <= effect["ci95_pp"][1]
    folders = run_folders(runs)
    assert len(folders) == 4  # one run per trial
    configs = [json.loads((f / "config.json").read_text()) for f in folders]
    assert sorted(c["trial"] for c in configs) == [0, 1, 2, 3] and {c["experiment"] for c in configs} == {"depth"}
    listed = cli("experiment", "list", "--runs-dir", runs, *extra)
    assert "depth" in listed.stdout and listed.returncode == 0


@pytest.mark.slow
def test_two_workers_share_one_study_and_take_disjoint_trials(tmp_path, synthetic_dir):
    runs = new_experiment(tmp_path, synthetic_dir, cells=("1-layer", "2-layer", "3-layer"))
    storage = runs / "experiments.journal"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mnist_tui",
                "experiment",
                "work",
                "depth",
                "--storage",
                str(storage),
                "--runs-dir",
                str(tmp_path / f"machine{i}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1] for o in outs]
    got = report(runs, "depth", "--storage", storage)
    assert got["counts"]["done"] == 6 and got["trials_total"] == 6
    mine = [run_folders(tmp_path / f"machine{i}") for i in range(2)]
    assert len(mine[0]) + len(mine[1]) == 6  # each trial trained exactly once, by one of them
    started = [line for out, _ in outs for line in out.splitlines() if "started" in line]
    assert len(started) == 6 and len({line.split()[1] for line in started}) == 6


def wait_for(condition, timeout=120.0, every=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def running_trial(runs: Path):
    """(trial number, its run folder, its run's pid) once a trial's run has written its live record."""
    from mnist_tui.experiments import store
    from mnist_tui.runfolder import live

    study, _ = store.load(str(runs / "experiments.journal"), "depth")
    for record in store.trials(study):
        if record.status == "running" and record.run_dir and (Path(record.run_dir) / live.LIVE).exists():
            pid = (live.read_live(Path(record.run_dir)) or {}).get("pid")
            if pid:
                return record.number, Path(record.run_dir), pid
    return None


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_its_run_training_and_the_next_worker_adopts_it(tmp_path, synthetic_dir):
    # long enough (tiny epochs, many of them) that the run is still training when the next worker looks
    runs = new_experiment(tmp_path, synthetic_dir, "--epochs", 60, "--patience", 0, cells=("1-layer",), seeds=2)
    worker = subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "experiment", "work", "depth", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    number, run_dir, _pid = wait_for(lambda: running_trial(runs))
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done = cli("experiment", "work", "depth", "--runs-dir", runs, timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"trial #{number}: its worker is gone" in done.stdout
    got = report(runs)
    assert got["counts"]["done"] == 2 and got["trials_total"] == 2  # nothing queued again, nothing twice
    assert len(run_folders(runs)) == 2


@pytest.mark.slow
def test_a_trial_whose_worker_and_run_both_died_is_failed_and_queued_again_once(tmp_path, synthetic_dir):
    runs = new_experiment(tmp_path, synthetic_dir, "--epochs", 3, cells=("1-layer",), seeds=1)
    worker = subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "experiment", "work", "depth", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    number, run_dir, pid = wait_for(lambda: running_trial(runs))
    worker.send_signal(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # the machine went down: the run with it
    worker.wait()
    done = cli("experiment", "work", "depth", "--runs-dir", runs, timeout=240)
    assert done.returncode == 0, done.stderr
    got = report(runs)
    assert got["counts"] == {"queued": 0, "running": 0, "done": 1, "failed": 1, "pruned": 0}
    (failed,) = [t for t in got["trials"] if t["status"] == "failed"]
    (retry,) = [t for t in got["trials"] if t["status"] == "finished"]
    assert failed["number"] == number and retry["retry_of"] == number
    assert "interrupted" in failed["reason"]


@pytest.mark.slow
def test_a_detached_worker_survives_the_hangup_of_its_terminal(tmp_path, synthetic_dir):
    runs = new_experiment(tmp_path, synthetic_dir, cells=("1-layer",), seeds=2)
    # a shell that starts the detached worker and is then hung up, as a closed terminal or SSH session is
    shell = subprocess.Popen(
        ["bash", "-c", f"{sys.executable} -m mnist_tui experiment work depth --detach --runs-dir {runs}; sleep 60"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    first = shell.stdout.readline()
    assert "working on depth in the background" in first
    os.killpg(shell.pid, signal.SIGHUP)
    shell.wait(timeout=10)
    wait_for(lambda: report(runs)["counts"]["done"] == 2, timeout=240, every=2)
    got = report(runs)
    assert got["trials_total"] == 2 and len(run_folders(runs)) == 2
