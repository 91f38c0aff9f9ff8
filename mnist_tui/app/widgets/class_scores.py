"""ClassScoresTable: precision, recall, F1 and support for each digit, the weakest recall marked."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from mnist_tui.common.text import pct

WEAKEST = "bold reverse yellow"  # reverse survives NO_COLOR


class ClassScoresTable(DataTable):
    """Shows the per-class scores it is handed: {"precision": [10], "recall": [10], "f1": [10], "support": [10]}."""

    scores: reactive[dict | None] = reactive(None, always_update=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def show(self, scores: dict) -> None:
        self.scores = scores

    def watch_scores(self) -> None:
        self.clear(columns=True)
        for label in ("digit", "precision", "recall", "f1", "support"):
            self.add_column(Text(label, style="bold", justify="left" if label == "digit" else "right"), key=label)
        if not self.scores:
            return
        recall = self.scores["recall"]
        weakest = min(range(len(recall)), key=recall.__getitem__)
        for digit in range(len(recall)):
            style = WEAKEST if digit == weakest and recall[digit] < 1.0 else ""
            self.add_row(
                Text(str(digit), style="bold"),
                *[
                    Text(pct(self.scores[k][digit], 1), style=style if k == "recall" else "", justify="right")
                    for k in ("precision", "recall", "f1")
                ],
                Text(f"{int(self.scores['support'][digit]):,}", justify="right"),
                key=str(digit),
            )
