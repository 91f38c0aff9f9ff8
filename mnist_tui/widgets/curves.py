"""CurvesPlot: accuracy or loss curves with textual-plotext (per-batch lines, per-epoch points)."""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot


class CurvesPlot(PlotextPlot):
    """Renders the series it is handed: {label: (epochs, values)}; x may be fractional (per-batch points).

    A series of one point is drawn as a marker of its own shape, so one-epoch runs that overlap stay visible."""

    MARKERS = ("●", "■", "▲", "◆", "✚", "★")

    def __init__(self, title: str, ylabel: str, percent: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.ylabel = ylabel
        self.percent = percent
        self.series: dict[str, tuple[list[float], list[float]]] = {}

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def show(self, series: dict[str, tuple[list[float], list[float]]]) -> None:
        self.series = series
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        plt.xlabel("epoch")
        points = [(label, xs[: len(ys)], ys) for label, (xs, ys) in self.series.items() if xs and ys]
        if not points:
            plt.title(f"{self.title} (from the first batch)")
        singles = 0
        for label, xs, ys in points:
            values = [y * 100 for y in ys] if self.percent else ys
            if len(xs) > 1:
                plt.plot(xs, values, label=label, marker="braille")
            else:
                plt.scatter(xs, values, label=label, marker=self.MARKERS[singles % len(self.MARKERS)])
                singles += 1
        if points:
            last = max(1, math.ceil(max(max(xs) for _, xs, _ in points)))
            first = 0 if last < 2 or any(min(xs) < 1 for _, xs, _ in points) else 1
            plt.xlim(first, last)
            plt.xticks(list(range(first, last + 1, max(1, last // 8))))
        self.refresh()
