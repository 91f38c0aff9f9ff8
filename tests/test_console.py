"""console: the CLI's plain-text formatting, shared with the screens, loads without torch or a UI library."""

from __future__ import annotations

import json
import subprocess
import sys

from mnist_tui.common.text import pct
from mnist_tui.runfolder.record import Summary


def test_pct_formats_a_fraction_as_a_percentage():
    assert pct(0.98765) == "98.77%"
    assert pct(0.98765, 1) == "98.8%"
    assert pct(0.5, 4) == "50.0000%"
    assert pct(None) == "-"


def test_console_imports_neither_torch_nor_a_ui_library():
    code = "import json, sys\nimport mnist_tui.cli.console\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert not loaded & {"torch", "numpy", "textual", "rich", "plotext"}


def test_a_run_stopped_before_its_first_epoch_ended_says_it_has_no_checkpoint():
    import io

    from mnist_tui.cli.console import EpochPrinter
    from mnist_tui.runfolder import events as ev

    out = io.StringIO()
    EpochPrinter(out)(
        ev.RunFinished("r", "runs/x_cancelled", "cancelled", Summary(status="cancelled", train_seconds=2.2))
    )
    assert "no epoch ended, so there is no checkpoint" in out.getvalue() and "best epoch None" not in out.getvalue()
