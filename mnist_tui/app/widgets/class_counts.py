"""ClassCounts: a table of images per class for each split, with totals."""

from __future__ import annotations

from rich import box
from rich.table import Table
from textual.reactive import reactive
from textual.widgets import Static


class ClassCounts(Static):
    """Renders the `counts` it is handed: {split name: [count of class 0..9]}."""

    counts: reactive[dict[str, list[int]]] = reactive(dict, always_update=True)

    def watch_counts(self, counts: dict[str, list[int]]) -> None:
        table = Table(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False, expand=False)
        table.add_column("class", "total", justify="right")
        for name, values in counts.items():
            table.add_column(name, f"{sum(values):,}", justify="right")
        for digit in range(10):
            table.add_row(str(digit), *[f"{values[digit]:,}" for values in counts.values()])
        self.update(table)
