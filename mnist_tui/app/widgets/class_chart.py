"""ClassChart: the class distribution of each split as grouped plotext bars, in percent of the split; too narrow
for a bar per split and class, one row per class with a bar per split side by side."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual_plotext import PlotextPlot

# One fill per split, so the bars stay apart with NO_COLOR too.
MARKERS = ["█", "▒", "░"]
Y_AXIS = 8  # cells plotext takes for the y labels and the frame
BAR_CELLS = 2  # the narrowest upright bar plotext draws without dropping some (one cell is not enough)


class ClassChart(PlotextPlot):
    """Renders the `counts` it is handed: {split name: [count of class 0..9]}."""

    counts: reactive[dict[str, list[int]]] = reactive(dict, always_update=True)

    def watch_counts(self) -> None:
        self.replot()

    def _splits(self) -> list[tuple[str, list[int]]]:
        return [(name, counts) for name, counts in self.counts.items() if sum(counts)]

    def _shares(self) -> list[list[float]]:
        return [[100 * c / sum(counts) for c in counts] for _, counts in self._splits()]

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        splits = self._splits()
        if not splits:
            plt.title("class distribution (loading ...)")
            self.refresh()
            return
        plt.title("class share of each split (%)")
        shares = self._shares()
        plt.multiple_bar(
            [str(d) for d in range(10)], shares, labels=[name for name, _ in splits], marker=MARKERS[: len(splits)]
        )
        top = max(max(s) for s in shares)
        plt.ylim(0, top * 1.4)  # headroom for the legend above the bars
        plt.xlabel("class")
        self.refresh()

    def narrow(self) -> bool:
        """Too narrow for plotext to draw every upright bar (it drops some rather than thin them)."""
        splits = len(self._splits())
        return bool(splits) and self.size.width - Y_AXIS < 10 * (BAR_CELLS * splits + 1)

    def render(self) -> RenderResult:
        return self._rows() if self.narrow() else super().render()

    def _rows(self) -> Text:
        """A row per class, each split's bar side by side; the longest bar is the largest share."""
        splits, shares = self._splits(), self._shares()
        top = max(max(s) for s in shares)
        width = max(1, (self.size.width - 2 - 2 * (len(splits) - 1)) // len(splits))
        text = Text(f"class share of each split (%)\na full bar is {top:.1f}%\n", style="bold")
        for n, (name, _) in enumerate(splits):
            text.append(("  " if n else "") + f"{MARKERS[n] * 2} {name}", style="")
        text.append("\n")
        for digit in range(10):
            text.append(f"\n{digit} ")
            for n, split in enumerate(shares):
                cells = max(1, round(split[digit] / top * width)) if split[digit] else 0
                text.append(("  " if n else "") + (MARKERS[n] * cells).ljust(width))
        return text
