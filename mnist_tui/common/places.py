"""Where things live on disk, said in full: the runs folder in messages, the screenshots folder."""

from __future__ import annotations

from pathlib import Path

RUNS_DIR_HOW = "set it with --runs-dir or MNIST_TUI_RUNS"


def runs_place(runs_dir: Path | str) -> str:
    """The runs folder as an absolute path: a relative `runs` depends on where the app was started."""
    return str(Path(runs_dir).expanduser().resolve())


def no_runs(runs_dir: Path | str, what: str = "no trained runs") -> str:
    """One line for every "nothing here" message: which folder was looked in, and how to choose another."""
    return f"{what} in {runs_place(runs_dir)} ({RUNS_DIR_HOW})"


def screenshots_dir() -> Path:
    """Where the palette's Screenshot saves its SVGs: the user data dir (~/.local/share/mnist-tui/screenshots)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("mnist-tui")) / "screenshots"
