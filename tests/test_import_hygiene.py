"""The compute core never imports the UI, and the app's menu starts without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = ["data", "models", "train", "runs", "evaluate", "augment", "batches", "config", "events", "device",
        "worker", "distributed", "compare", "preprocess", "saliency"]
UI = ("textual", "rich", "plotext", "textual_plotext")


def imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_the_ui(module):
    modules = imported_after(f"import mnist_tui.{module}")
    leaked = sorted(m for m in modules if m.split(".")[0] in UI)
    assert not leaked, f"mnist_tui.{module} pulled in {leaked[:5]}"


def test_menu_starts_without_torch():
    modules = imported_after("from mnist_tui.app import make_app\nimport mnist_tui.screens.menu\nimport mnist_tui.cli")
    assert "torch" not in modules
