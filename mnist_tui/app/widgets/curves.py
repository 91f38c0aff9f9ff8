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
        self.note = ""  # said in the title: what the curves are, or why there are none

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def show(self, series: dict[str, tuple[list[float], list[float]]], note: str = "") -> None:
        """`note` goes in the title; without one, an empty plot says it has no points yet."""
        self.series, self.note = series, note
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.xlabel("epoch")
        points = [(label, xs[: len(ys)], ys) for label, (xs, ys) in self.series.items() if xs and ys]
        note = self.note or ("" if points else "no points yet")
        plt.title(f"{self.title} ({note})" if note else self.title)
        singles, drawn = 0, []
        for label, xs, ys in points:
            values = [y * 100 for y in ys] if self.percent else ys
            drawn += values
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
            plt.ylim(*self.y_range(min(drawn), max(drawn)))
        self.refresh()

    def y_range(self, low: float, high: float) -> tuple[float, float]:
        """A little room around the values. plotext's own range for one point (or a flat line) is half to
        one and a half times its value: an accuracy of 98% drew an axis up to 147%. A percentage stays in
        0-100, and values that are never negative (a loss) get no negative axis."""
        pad = max((high - low) * 0.05, 0.5 if self.percent else abs(high) * 0.05 or 0.01)
        floor = 0.0 if low >= 0 else low - pad  # a loss or a percentage never goes below 0
        low, high = max(floor, low - pad), high + pad
        return low, (min(100.0, high) if self.percent else high)
