"""Runs: every run folder in a table; open its results or model, delete it, mark it default, resume it,
compare the ones you choose."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from .. import runs
from ..messages import RunsChanged
from .confirm import ConfirmScreen

STATUS_COLOURS = {
    "finished": "success",
    "cancelled": "warning",
    "interrupted": "warning",
    "failed": "error",
    "running": "accent",
    "unreadable": "error",
}  # theme variables
STAR = "★"
CHECK = "✓"  # marked for comparison


class RunsScreen(Screen):
    TITLE = "Runs"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Results"),
        Binding("d", "delete", "Delete"),
        Binding("m", "mark_default", "Mark default"),
        Binding("R", "resume", "Resume"),
        Binding("space", "toggle_mark", "Mark to compare"),
        Binding("c", "compare", "Compare marked"),
        Binding("l", "inspect", "Model"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.infos: dict[str, runs.RunInfo] = {}
        self.marked: list[str] = []  # run paths marked for comparison, in the order they were marked

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "[b]enter[/b] results  [b]l[/b] model  [b]d[/b] delete  [b]m[/b] mark as the default for Test "
            f"predictions ({STAR})  [b]space[/b] mark to compare ({CHECK})  [b]c[/b] compare",
            id="runs-hint",
        )
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="run-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.app.runs_dir)
        table = self.query_one("#runs-table", DataTable)
        table.add_column(STAR, key="default")
        table.add_column(CHECK, key="marked")
        for label in ("time", "model", "aug", "images", "epochs", "test acc", "status"):
            table.add_column(label, key=label)
        table.focus()
        self.refresh_runs()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Re-read the runs folder, keeping the cursor on the same run when it still exists."""
        table = self.query_one("#runs-table", DataTable)
        if not table.columns:
            return
        selected = self.selected()
        listed = runs.list_runs(self.app.runs_dir)
        default = runs.default_run(self.app.runs_dir)
        self.infos = {str(info.path): info for info in listed}
        self.marked = [path for path in self.marked if path in self.infos]
        table.clear()
        for info in listed:
            acc = f"{info.test_acc * 100:.2f}%" if info.test_acc is not None else "-"
            table.add_row(
                STAR if default and default.path == info.path else "",
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
                key=str(info.path),
            )
        if selected and str(selected.path) in self.infos:
            table.move_cursor(row=table.get_row_index(str(selected.path)))
        empty = Text(f"No runs in {self.app.runs_dir} yet: train one from the menu (t).")
        self._show_detail() if listed else self.query_one("#run-detail", Static).update(empty)

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
            facts.append(f"best val {info.val_acc * 100:.2f}%")
        if info.train_seconds is not None:
            facts.append(f"{info.train_seconds:.0f}s")
        reason = self._failure(info) if info.status in ("failed", "interrupted", "unreadable") else ""
        self.query_one("#run-detail", Static).update(
            "  ".join(facts) + (f"\n[i]{escape(reason)}[/i]" if reason else "")
        )

    @staticmethod
    def _failure(info: runs.RunInfo) -> str:
        return str(info.reason or "no reason recorded")

    # -------------------------------------------------- actions

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        info = self.selected()
        if info is None:
            return
        if info.status in ("failed", "unreadable"):
            self.notify(
                f"It failed, so it has no results: {self._failure(info)}",
                title="Can't open this run",
                severity="warning",
                markup=False,
            )
        elif info.status == "running":
            self.notify("Still training: its results open when it ends (see the Dashboard).", severity="warning")
        elif not info.has_checkpoint:
            self.notify(
                "Cancelled before the first epoch ended, so there is no checkpoint to show.", severity="warning"
            )
        else:
            self.app.open_screen("results", str(info.path))

    def action_delete(self) -> None:
        info = self.selected()
        if info is None:
            return
        if info.status == "running":
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

    def action_mark_default(self) -> None:
        info = self.selected()
        if info is None:
            return
        if not info.has_checkpoint or info.status not in runs.SUCCESS:
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

    def action_resume(self) -> None:
        """Continue a cancelled or interrupted run in its own folder, from its last completed epoch."""
        info = self.selected()
        if info is None:
            return
        if info.status not in runs.RESUMABLE:
            self.notify(
                f"Only a cancelled or interrupted run can be resumed; this one is {info.status}.",
                severity="warning",
                markup=False,
            )
            return
        try:
            self.app.resume_run(info.path)
        except (runs.RunError, OSError, ValueError) as error:
            self.notify(str(error), title="Can't resume", severity="error", markup=False)
            return
        self.notify(f"Resuming {info.name} after epoch {info.epochs_run}", markup=False)
        self.app.open_screen("dashboard")

    def _mark_label(self, path: str) -> str:
        return f"{CHECK}{self.marked.index(path) + 1}" if path in self.marked else ""

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

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify(f"Mark two or more runs with space first ({len(self.marked)} marked).", severity="warning")
            return
        from .compare_runs import RunComparisonScreen

        self.app.push_screen(RunComparisonScreen([self.infos[path].path for path in self.marked]))

    def action_inspect(self) -> None:
        info = self.selected()
        if info is None:
            return
        if not info.has_checkpoint:
            self.notify("This run saved no checkpoint, so there is no model to look inside.", severity="warning")
            return
        self.app.open_screen("model", info.path)
