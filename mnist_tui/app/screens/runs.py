"""Runs: every run folder in a table; open its results or model, delete it, mark it default, resume it,
compare the ones you choose."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from mnist_tui.app.messages import RunsChanged
from mnist_tui.app.screens.confirm import ConfirmScreen
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.common.text import pct
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.record import RunError
from mnist_tui.runfolder.status import RESUMABLE, SUCCESS, Status

STATUS_COLOURS = {
    Status.FINISHED: "success",
    Status.CANCELLED: "warning",
    Status.INTERRUPTED: "warning",
    Status.FAILED: "error",
    Status.RUNNING: "accent",
    Status.UNREADABLE: "error",
}  # theme variables
STAR = "★"
CHECK = "✓"  # marked for comparison


def after_listing(action: Callable[[RunsScreen], None]) -> Callable[[RunsScreen], None]:
    """A key pressed before this visit's listing arrived acts once it has, as it did when the screen read
    the folder before it appeared."""

    @functools.wraps(action)
    def act(screen: RunsScreen) -> None:
        if screen.loaded:
            action(screen)
        else:
            screen._pending.append(lambda: action(screen))

    return act


class RunsScreen(Screen):
    """Kept between visits (KEPT): mounting it (header, table, footer) cost more than reading the folder.
    Each visit starts as a new screen did: the folder read again, no marks, the cursor on the newest run."""

    TITLE = "Runs"
    KEPT = True
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Results"),
        Binding("enter", "open_when_listed", show=False, priority=True),  # the empty table would swallow it
        # Short words, and d and m only in the hint line above, so that c, l and ? still show at 80 columns.
        Binding("d", "delete", "Delete", show=False),
        Binding("m", "mark_default", "Mark default", show=False),
        Binding("R", "resume", "Resume"),
        Binding("space", "toggle_mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("l", "inspect", "Model"),
    ]

    @dataclass
    class Listed(Message):
        """The runs folder was read (off the UI thread)."""

        generation: int  # which visit asked: a listing for an older one is dropped
        infos: list[runs.RunInfo]
        default: Path | None

    def __init__(self) -> None:
        super().__init__()
        self.infos: dict[str, runs.RunInfo] = {}
        self.marked: list[str] = []  # run paths marked for comparison, in the order they were marked
        self.loaded = False  # this visit's listing is on screen
        self._left = False  # popped off the stack since the last visit
        self._detail: str | Text = ""
        self._generation = 0  # of the newest listing asked for: an older one that arrives late is dropped
        self._shown: list[tuple] | None = None  # the rows on screen, to leave the table alone when nothing changed
        self._pending: list[Callable[[], None]] = []  # actions for keys pressed before the listing arrived

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "[b]enter[/b] results  [b]l[/b] model  [b]d[/b] delete  [b]m[/b] mark as the default for Test "
            f"predictions ({STAR})  [b]space[/b] mark to compare ({CHECK})  [b]c[/b] compare",
            id="runs-hint",
        )
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="run-detail")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.sub_title = str(self.app.runs_dir)
        table = self.query_one("#runs-table", DataTable)
        table.add_column(STAR, key="default")
        table.add_column(CHECK, key="marked")
        for label in ("time", "model", "aug", "images", "epochs", "test acc", "status"):
            table.add_column(label, key=label)
        table.focus()
        self._set_detail(Text(f"Reading {self.app.runs_dir} ..."))
        # ScreenResume follows the first mount too: on_screen_resume reads the folder, once.

    def on_screen_suspend(self) -> None:
        self._left = self not in self.app.screen_stack  # popped, not covered by Results, a dialog, ...

    def on_screen_resume(self) -> None:
        if self._left:  # a new visit
            self._left = False
            self.loaded = False  # keys wait for this visit's listing; the last one shows meanwhile
            self.marked = []
            self.query_one("#runs-table", DataTable).move_cursor(row=0, animate=False)
        self.refresh_runs()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Re-read the runs folder in a thread; the rows follow in `on_runs_screen_listed`."""
        self._generation += 1
        self._list(self._generation, self.app.runs_dir)

    @work(thread=True, exclusive=True, group="runs-listing")
    def _list(self, generation: int, runs_dir: Path) -> None:
        # Reading every folder (and parsing its JSON) took most of a screen change on the UI thread.
        listed = runs.list_runs(runs_dir)
        default = runs.default_run(runs_dir, listed)
        self.post_message(self.Listed(generation, listed, default.path if default else None))

    def on_runs_screen_listed(self, message: Listed) -> None:
        """Show a listing, keeping the cursor on the same run when it still exists."""
        if message.generation != self._generation:
            return  # a newer listing is on its way
        table = self.query_one("#runs-table", DataTable)
        selected = self.selected() if self.loaded else None  # a visit starts on the newest run
        listed = message.infos
        self.infos = {str(info.path): info for info in listed}
        self.marked = [path for path in self.marked if path in self.infos]
        rows = [(self.app.theme, *self._row(info, message.default)) for info in listed]
        if rows != self._shown:  # an unchanged table keeps its rendered cells
            self._shown = rows
            table.clear()
            for info, row in zip(listed, rows):
                table.add_row(*row[1:], key=str(info.path))
            if selected and str(selected.path) in self.infos:
                table.move_cursor(row=table.get_row_index(str(selected.path)))
        empty = Text(f"No runs in {self.app.runs_dir} yet: train one from the menu (t).")
        self._show_detail() if listed else self._set_detail(empty)
        if not self.loaded:
            self.loaded = True
            pending, self._pending = self._pending, []
            for action in pending:
                action()

    def _row(self, info: runs.RunInfo, default: Path | None) -> tuple:
        acc = pct(info.test_acc)
        return (
            STAR if default == info.path else "",
            self._mark_label(str(info.path)),
            Text(info.started),
            Text(info.model),
            "yes" if info.augment else "no",
            f"{info.train_images:,}" if info.train_images else "-",
            f"{info.progress[0]}/{info.progress[1]}"
            if info.progress
            else f"{info.epochs_run}/{info.epochs}"
            if info.epochs
            else str(info.epochs_run),
            acc,
            Text(info.status, style=self.app.theme_variables.get(STATUS_COLOURS.get(info.status, ""), "")),
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not self.loaded if action == "open_when_listed" else True

    def action_open_when_listed(self) -> None:
        self.action_open()

    def selected(self) -> runs.RunInfo | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.infos.get(key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        info = self.selected()
        if info is None:
            return
        facts = [f"[b]{escape(info.name)}[/b]"]
        if info.params:
            facts.append(f"{info.params:,} params")
        if info.val_acc is not None:
            facts.append(f"best val {pct(info.val_acc)}")
        if info.train_seconds is not None:
            facts.append(f"{info.train_seconds:.0f}s")
        reason = self._failure(info) if info.status in (Status.FAILED, Status.INTERRUPTED, Status.UNREADABLE) else ""
        self._set_detail("  ".join(facts) + (f"\n[i]{escape(reason)}[/i]" if reason else ""))

    def _set_detail(self, content: str | Text) -> None:
        if content != self._detail:  # an update lays the screen out again
            self._detail = content
            self.query_one("#run-detail", Static).update(content)

    @staticmethod
    def _failure(info: runs.RunInfo) -> str:
        return str(info.reason or "no reason recorded")

    @staticmethod
    def _no_checkpoint(status: str) -> str:
        """Why a run that ended has no checkpoint, in the words of its status."""
        return {
            Status.CANCELLED: "Cancelled before the first epoch ended",
            Status.INTERRUPTED: "Interrupted (its process ended) before the first epoch ended",
        }.get(status, "It saved no checkpoint")

    # -------------------------------------------------- actions

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @after_listing
    def action_open(self) -> None:
        info = self.selected()
        if info is None:
            return
        if info.status in (Status.FAILED, Status.UNREADABLE):
            why = "Its files can't be read" if info.status == Status.UNREADABLE else "It failed"
            self.notify(
                f"{why}, so it has no results: {self._failure(info).removeprefix('unreadable: ')}",
                title="Can't open this run",
                severity="warning",
                markup=False,
            )
        elif info.status == Status.RUNNING:
            self.notify("Still training: its results open when it ends (see the Dashboard).", severity="warning")
        elif not info.has_checkpoint:
            self.notify(f"{self._no_checkpoint(info.status)}, so there is no checkpoint to show.", severity="warning")
        else:
            self.app.open_screen("results", str(info.path))

    @after_listing
    def action_delete(self) -> None:
        info = self.selected()
        if info is None:
            return
        if info.status == Status.RUNNING:
            self.notify("Still training: stop it on the Dashboard before deleting it.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                runs.delete_run(info.path)
            except OSError as error:
                self.notify(f"Could not delete {info.name}: {error}", severity="error", markup=False)
            else:
                self.notify(f"Deleted {info.name}", markup=False)
            self.refresh_runs()

        self.app.push_screen(
            ConfirmScreen(f"Delete [b]{escape(info.name)}[/b] and everything in it?", yes="Delete"), answered
        )

    @after_listing
    def action_mark_default(self) -> None:
        info = self.selected()
        if info is None:
            return
        if not info.has_checkpoint or info.status not in SUCCESS:
            self.notify("Only a finished or cancelled run with a checkpoint can be the default.", severity="warning")
            return
        try:
            runs.mark_default(self.app.runs_dir, info.path)
        except OSError as error:  # a read-only or full runs folder
            self.notify(
                f"{error.strerror or error} ({self.app.runs_dir})",
                title="Could not mark the default run",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"{STAR} {info.name} is now the default for Test predictions", markup=False)
        self.refresh_runs()

    @after_listing
    def action_resume(self) -> None:
        """Continue a cancelled or interrupted run in its own folder, from its last completed epoch."""
        info = self.selected()
        if info is None:
            return
        if info.status not in RESUMABLE:
            self.notify(
                f"Only a cancelled or interrupted run can be resumed; this one is {info.status}.",
                severity="warning",
                markup=False,
            )
            return
        try:
            self.app.resume_run(info.path)
        except (RunError, OSError, ValueError) as error:
            self.notify(str(error), title="Can't resume", severity="error", markup=False)
            return
        self.notify(f"Resuming {info.name} after epoch {info.epochs_run}", markup=False)
        self.app.open_screen("dashboard")

    def _mark_label(self, path: str) -> str:
        return f"{CHECK}{self.marked.index(path) + 1}" if path in self.marked else ""

    @after_listing
    def action_toggle_mark(self) -> None:
        info = self.selected()
        if info is None:
            return
        path = str(info.path)
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked.append(path)
        table = self.query_one("#runs-table", DataTable)
        for marked in self.infos:
            table.update_cell(marked, "marked", self._mark_label(marked), update_width=True)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)  # on to the next run, as file managers do

    @after_listing
    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify(f"Mark two or more runs with space first ({len(self.marked)} marked).", severity="warning")
            return
        from mnist_tui.app.screens.compare_runs import RunComparisonScreen

        self.app.push_screen(RunComparisonScreen([self.infos[path].path for path in self.marked]))

    @after_listing
    def action_inspect(self) -> None:
        info = self.selected()
        if info is None:
            return
        if not info.has_checkpoint:
            self.notify("This run saved no checkpoint, so there is no model to look inside.", severity="warning")
            return
        self.app.open_screen("model", info.path)
