"""DigitGrid: as many DigitTiles as fit, laid out in a grid; reports how many fit when resized."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from mnist_tui.app.widgets.digit_tile import COMPACT, FULL, DigitTile

GUTTER = (2, 1)  # columns, rows between tiles


def fit(width: int, height: int, tile: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) of `tile`-sized cells that fit in width x height with the gutter between them."""
    columns = (width + GUTTER[0]) // (tile[0] + GUTTER[0])
    rows = (height + GUTTER[1]) // (tile[1] + GUTTER[1])
    return max(1, columns), max(1, rows)


class DigitGrid(Widget):
    """Shows the `samples` it is handed, [(pixels uint8 28x28, caption)], one tile each.

    A paged grid (`fit_all=False`) posts `Resized` with how many full-size tiles fit, so its screen can
    hand it a page of that size. With `fit_all=True` it draws every sample, at half resolution when the
    full-size tiles would not all fit.
    """

    DEFAULT_CSS = f"""
    DigitGrid {{ layout: grid; grid-gutter: {GUTTER[1]} {GUTTER[0]}; grid-columns: {FULL[0]}; grid-rows: {FULL[1]}; }}
    DigitGrid.-compact {{ grid-columns: {COMPACT[0]}; grid-rows: {COMPACT[1]}; }}
    """

    samples: reactive[list[tuple[np.ndarray, str]]] = reactive(list, always_update=True)
    capacity: reactive[int] = reactive(0, init=False)

    @dataclass
    class Resized(Message):
        """The grid's size changed; `capacity` full-size tiles fit now."""

        grid: DigitGrid
        capacity: int

        @property
        def control(self) -> DigitGrid:
            return self.grid

    def __init__(self, fit_all: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fit_all = fit_all
        self._area = (0, 0)

    def on_resize(self, event: events.Resize) -> None:
        if not event.size.width or not event.size.height:
            return  # hidden in an inactive tab
        self._area = (event.size.width, event.size.height)
        columns, rows = fit(*self._area, FULL)
        self.capacity = columns * rows
        self._arrange()

    def watch_capacity(self, capacity: int) -> None:
        self.post_message(self.Resized(self, capacity))

    def watch_samples(self) -> None:
        self._arrange()

    def _arrange(self) -> None:
        compact = False
        if self.fit_all and self._area[0]:
            columns, rows = fit(*self._area, FULL)
            compact = columns * rows < len(self.samples)
        self.set_class(compact, "-compact")
        self.styles.grid_size_columns = fit(*self._area, COMPACT if compact else FULL)[0] if self._area[0] else 1
        tiles = list(self.query_children(DigitTile))
        for tile, (pixels, caption) in zip(tiles, self.samples):
            tile.show(pixels, caption, compact)
            tile.display = True
        for tile in tiles[len(self.samples) :]:
            tile.display = False  # kept, not removed, so a page flip never waits on a mount
        extra = self.samples[len(tiles) :]
        if extra:
            self.mount_all([DigitTile(pixels, caption, compact) for pixels, caption in extra])
