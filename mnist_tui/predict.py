"""Predicting digits in image files with a recorded run: model choice, batch prediction and the `predict` command."""

from __future__ import annotations

import argparse
import os


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `mnist-tui predict`; argparse only, so the CLI starts without importing torch."""
    parser = subparsers.add_parser("predict", help="predict the digit in image files (PNG/JPEG) with a trained run")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files, any size; dark-on-light is inverted")
    parser.add_argument("--run", default=None, help="run folder or name prefix (default: the default or best run)")
    parser.add_argument("--json", action="store_true", help="print JSON with all ten probabilities")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="classes to show per image (default 3)")
    parser.add_argument("--runs-dir", default=os.environ.get("MNIST_TUI_RUNS", "runs"), help="where run folders live (default: runs)")
    return parser


def cmd_predict(args) -> int:
    raise NotImplementedError("mnist-tui predict is being built")
