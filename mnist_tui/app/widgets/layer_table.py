"""LayerTable: the inspector's rows (one per layer) and its totals, as a DataTable."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

COLUMNS = ("layer", "type", "output", "params", "MACs", "act/image", "act ×batch")
GAP = " "  # one blank cell before each column: the default padding (two) pushes act ×N off an 80-column screen


class LayerTable(DataTable):
    """Shows the rows it is handed: each a tuple of strings in COLUMNS order; the last one is the totals."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, cell_padding=0, **kwargs)

    def show(self, rows: list[tuple[str, ...]], batch_label: str) -> None:
        self.clear(columns=True)
        for i, label in enumerate(COLUMNS[:-1] + (batch_label,)):
            self.add_column(Text(GAP + label, justify="left" if i < 3 else "right"))
        for n, row in enumerate(rows):
            last = n == len(rows) - 1
            cells = [
                Text(GAP + cell, style="bold" if last else "", justify="left" if i < 3 else "right")
                for i, cell in enumerate(row)
            ]
            self.add_row(*cells)
