"""ConfusionTable: the 10x10 confusion matrix as counts or row percentages, diagonal and worst cells marked."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

# Rich styles in cells: bold and reverse survive NO_COLOR, so the marks read without colour too.
DIAGONAL = "bold green"
WORST = "bold reverse red"
EMPTY = "dim"


@dataclass(frozen=True)
class Confusion:
    """What the table shows: raw counts, the same rows as percentages, and the worst (true, pred, count) cells."""

    counts: list[list[int]]
    percentages: list[list[float]]
    worst: list[tuple[int, int, int]]


class ConfusionTable(DataTable):
    """Rows are true digits, columns predicted digits; `percent` switches counts and row percentages."""

    confusion: reactive[Confusion | None] = reactive(None, always_update=True)
    percent: reactive[bool] = reactive(False)

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, **kwargs)

    def show(self, confusion: Confusion) -> None:
        self.confusion = confusion

    def watch_confusion(self) -> None:
        self._rebuild()

    def watch_percent(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        self.clear(columns=True)
        self.add_column(Text("true", style="bold"), key="true")
        for digit in range(10):
            self.add_column(Text(str(digit), style="bold", justify="right"), key=str(digit))
        if self.confusion is None:
            return
        worst = {(t, p) for t, p, _ in self.confusion.worst}
        for true in range(10):
            cells = [Text(str(true), style="bold")]
            for pred in range(10):
                count = self.confusion.counts[true][pred]
                if self.percent:
                    value = self.confusion.percentages[true][pred]
                    label = f"{value:.1f}" if count else "·"
                else:
                    label = str(count) if count else "·"
                style = DIAGONAL if true == pred else WORST if (true, pred) in worst else EMPTY if not count else ""
                cells.append(Text(label, style=style, justify="right"))
            self.add_row(*cells, key=str(true))
