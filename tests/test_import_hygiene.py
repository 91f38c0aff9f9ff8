"""The compute core never imports the UI, and the app's menu starts without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEADLESS_PACKAGES = ("common", "engine", "runfolder", "training", "analysis", "service")
# Every module of the headless packages, found on disk so a new one is checked too, and the CLI's pieces
# that run without the app.
ROOT = Path(__file__).resolve().parent.parent / "mnist_tui"
CORE = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for package in HEADLESS_PACKAGES
    for path in (ROOT / package).rglob("*.py")
) + ["cli.flags", "cli.console", "cli.distributed", "app.settings"]
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
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(ui=UI, code=code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_core_modules_do_not_import_the_ui():
    """Every headless module, imported one after another in one fresh interpreter: a UI package's first
    importer names the module that reached for it (lint-imports checks the same layers statically)."""
    found = imported_after("\n".join(f"import mnist_tui.{module}" for module in CORE))
    leaked = {
        top: importer
        for top, importer in found["importers"].items()
        if not importer.startswith(OPTIONAL_PROBES.get(top, ()))
    }
    assert not leaked, f"the core pulled in the UI (package: first importer): {leaked}"
    assert all(f"mnist_tui.{module}" in found["modules"] for module in CORE)


def test_menu_starts_without_torch():
    found = imported_after(
        "from mnist_tui.app.app import make_app\nimport mnist_tui.app.screens.menu\nimport mnist_tui.cli.main"
    )
    assert "torch" not in found["modules"]


# The console entry point itself, as `mnist-tui` runs it: App.run is swapped for a headless run_test, so
# the check happens with the menu drawn and its start-up workers done.
ENTRY_POINT = """
import asyncio, json, sys
from textual.app import App

async def drive(app, *args, **kwargs):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        print(json.dumps({"screen": type(app.screen).__name__, "torch": "torch" in sys.modules}))

App.run = lambda app, *args, **kwargs: asyncio.run(drive(app))
from mnist_tui.cli.main import main
sys.exit(main([]))
"""


def test_console_entry_point_draws_the_menu_without_torch(tmp_path, synthetic_dir):
    import os

    env = {**os.environ, "MNIST_TUI_RUNS": str(tmp_path / "runs"), "MNIST_TUI_DATA": str(synthetic_dir)}
    done = subprocess.run([sys.executable, "-c", ENTRY_POINT], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"screen": "MenuScreen", "torch": False}
