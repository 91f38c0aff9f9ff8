"""Command-line flags shared by several commands (argparse only: no torch, no Textual)."""

from __future__ import annotations

import argparse
import os


def add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir",
        default=os.environ.get("MNIST_TUI_RUNS", "runs"),
        help="where run folders live (default: $MNIST_TUI_RUNS, else runs in the current directory)",
    )


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default=None, help="MNIST folder (default: $MNIST_TUI_DATA or the user cache dir)"
    )
