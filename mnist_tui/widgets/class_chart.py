"""ClassChart: the class distribution of each split as grouped plotext bars, in percent of the split."""

from __future__ import annotations

from textual.reactive import reactive
from textual_plotext import PlotextPlot

# One fill per split, so the bars stay apart with NO_COLOR too.
MARKERS = ["█", "▒", "░"]


class ClassChart(PlotextPlot):
    """Renders the `counts` it is handed: {split name: [count of class 0..9]}."""

    counts: reactive[dict[str, list[int]]] = reactive(dict, always_update=True)

    def watch_counts(self) -> None:
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        splits = [(name, counts) for name, counts in self.counts.items() if sum(counts)]
        if not splits:
            plt.title("class distribution (loading ...)")
            self.refresh()
            return
        plt.title("class share of each split (%)")
        shares = [[100 * c / sum(counts) for c in counts] for _, counts in splits]
        plt.multiple_bar(
            [str(d) for d in range(10)], shares, labels=[name for name, _ in splits], marker=MARKERS[: len(splits)]
        )
        top = max(max(s) for s in shares)
        plt.ylim(0, top * 1.4)  # headroom for the legend above the bars
        plt.xlabel("class")
        self.refresh()
