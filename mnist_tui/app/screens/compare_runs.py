"""Runs side by side: the runs marked in Runs, with overlaid validation curves, a score table and differing config."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from mnist_tui.analysis import comparison as cmp
from mnist_tui.app.widgets.curves import CurvesPlot
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.runfolder.record import RunError


class RunComparisonScreen(Screen):
    TITLE = "Compare runs"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="compare-runs-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="compare-runs-charts"):
            yield CurvesPlot("validation accuracy (%)", "accuracy", percent=True, id="compare-runs-acc")
            yield CurvesPlot("validation loss", "loss", id="compare-runs-loss")
        yield Static("", id="compare-runs-caption")
        yield DataTable(id="compare-runs-config", cursor_type="row", zebra_stripes=True)
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"{len(self.paths)} runs"
        try:
            result = cmp.compare_runs(self.paths)  # reads small JSON and CSV files: no torch, quick
        except RunError as error:
            self.query_one("#compare-runs-caption", Static).update(Text(str(error)))
            return
        table = self.query_one("#compare-runs-table", DataTable)
        for header in cmp.TABLE_HEADERS:
            table.add_column(header)
        for row in cmp.table_rows(result):
            table.add_row(*[Text(cell) for cell in row])
        self.query_one("#compare-runs-acc", CurvesPlot).show(cmp.curves(result, "val_acc"))
        self.query_one("#compare-runs-loss", CurvesPlot).show(cmp.curves(result, "val_loss"))
        caption = (
            f"{len(result.differing)} config fields differ"
            if result.differing
            else "every config field is the same: only the run folders differ"
        )
        notes = "".join(f"\n{note}" for note in cmp.config_notes(result))  # runs whose config.json is unreadable
        self.query_one("#compare-runs-caption", Static).update(Text(f"{caption}   ({cmp.IMG_S}){notes}"))
        config = self.query_one("#compare-runs-config", DataTable)
        config.add_column("field")
        for i in range(1, len(result.runs) + 1):
            config.add_column(f"#{i}")
        for key, values in result.differing.items():
            config.add_row(Text(key), *[Text(cmp.value_text(v)) for v in values])
        table.focus()
