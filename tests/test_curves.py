"""The curves widget: what its axes say for the series it is handed."""

from __future__ import annotations

import re

from screen import screen_text
from textual.app import App

from mnist_tui.app.widgets.curves import CurvesPlot


def y_labels(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"(-?\d+(?:\.\d+)?)\s*┤", text)]


async def plot_labels(series: dict, percent: bool) -> list[float]:
    class PlotApp(App):
        def compose(self):
            yield CurvesPlot("accuracy (%)", "accuracy", percent=percent)

    app = PlotApp()
    async with app.run_test(size=(60, 20)) as pilot:
        app.query_one(CurvesPlot).show(series)
        await pilot.pause()
        return y_labels(screen_text(app))


async def test_a_percentage_of_one_point_or_a_flat_line_stays_within_0_to_100():
    """One epoch's 98% drew an axis from 49% to 147%."""
    for series in ({"val": ([1.0], [0.98])}, {"val": ([1.0, 2.0], [1.0, 1.0])}):
        labels = await plot_labels(series, percent=True)
        assert labels and max(labels) <= 100 and min(labels) >= 90, labels


async def test_a_loss_curve_keeps_its_values_in_view():
    labels = await plot_labels({"train": ([0.5, 1.0, 2.0], [2.3, 0.4, 0.1])}, percent=False)
    assert 0 <= min(labels) <= 0.1 and max(labels) >= 2.3, labels
