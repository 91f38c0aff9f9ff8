"""CurvesPlot: per-epoch accuracy or loss curves with textual-plotext."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class CurvesPlot(PlotextPlot):
    """Renders the series it is handed: {label: (epochs, values)}."""

    def __init__(self, title: str, ylabel: str, percent: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.ylabel = ylabel
        self.percent = percent
        self.series: dict[str, tuple[list[int], list[float]]] = {}

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def show(self, series: dict[str, tuple[list[int], list[float]]]) -> None:
        self.series = series
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        plt.xlabel("epoch")
        points = [(label, xs, ys) for label, (xs, ys) in self.series.items() if xs]
        if not points:
            plt.title(f"{self.title} (after epoch 1)")
        for label, xs, ys in points:
            values = [y * 100 for y in ys] if self.percent else ys
            marker = "braille" if len(xs) > 1 else "dot"
            plt.plot(xs, values, label=label, marker=marker)
        if points:
            last = max(max(xs) for _, xs, _ in points)
            plt.xticks(list(range(1, last + 1, max(1, last // 8))))
        self.refresh()
