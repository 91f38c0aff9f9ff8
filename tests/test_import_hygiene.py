"""The compute core never imports the UI, and the app's menu starts without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CORE = ["data", "models", "train", "runs", "evaluate", "augment", "batches", "config", "events", "device",
        "worker", "distributed", "compare", "preprocess", "saliency", "inspect", "inference", "export", "comparison"]
UI = ("textual", "rich", "plotext", "textual_plotext")
# Libraries that probe for an optional UI package at import and use it only if asked: scikit-learn 1.9
# tries `from rich.progress import ...` for its opt-in progress-bar callback. Such a probe is not our
# code reaching for the UI, so it is allowed; every other route to a UI package fails the test.
OPTIONAL_PROBES = {"rich": ("sklearn.",)}

# Records, for each UI package, the module whose code imported it first.
PROBE = """
import json, sys
UI = {ui!r}
importers = {{}}

class Recorder:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in UI and top not in importers:
            frame = sys._getframe(1)
            while frame and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
                frame = frame.f_back
            importers[top] = frame.f_globals.get("__name__", "?") if frame else "?"
        return None

sys.meta_path.insert(0, Recorder())
{code}
print(json.dumps({{"modules": sorted(sys.modules), "importers": importers}}))
"""


def imported_after(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE.format(ui=UI, code=code)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_the_ui(module):
    found = imported_after(f"import mnist_tui.{module}")
    leaked = {top: importer for top, importer in found["importers"].items()
              if not importer.startswith(OPTIONAL_PROBES.get(top, ()))}
    assert not leaked, f"mnist_tui.{module} pulled in the UI (package: first importer): {leaked}"


def test_menu_starts_without_torch():
    found = imported_after("from mnist_tui.app import make_app\nimport mnist_tui.screens.menu\nimport mnist_tui.cli")
    assert "torch" not in found["modules"]
