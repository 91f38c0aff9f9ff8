"""DigitTile: one digit drawn with DigitImage and a caption under it, at full or half resolution."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from mnist_tui.app.widgets.digit import DigitImage

FULL = (28, 15)  # characters: 28x14 image and a caption line
COMPACT = (14, 8)  # half resolution, for when a whole set must fit on a small terminal


def halve(pixels: np.ndarray) -> np.ndarray:
    """28x28 -> 14x14 by 2x2 means: the tile's compact look, not a change to the data."""
    h, w = pixels.shape
    return pixels.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).astype(np.uint8)


class _StyledDigitImage(DigitImage):
    """DigitImage whose segments always carry a style: with NO_COLOR, Textual's Monochrome filter reads
    `style.color` and fails on the unstyled glyph and blank segments DigitImage returns."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        return Strip(
            [Segment(text, style or Style.null(), control) for text, style, control in strip], strip.cell_length
        )


class DigitTile(Widget):
    """Shows the `pixels` (uint8 28x28) and `caption` it is handed."""

    DEFAULT_CSS = """
    DigitTile { width: auto; height: auto; }
    DigitTile > .caption { width: 28; height: 1; text-align: center; }
    DigitTile.-compact > .caption { width: 14; }
    """

    pixels: reactive[np.ndarray | None] = reactive(None, always_update=True)
    caption: reactive[str] = reactive("")
    compact: reactive[bool] = reactive(False)

    def __init__(self, pixels: np.ndarray | None = None, caption: str = "", compact: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_reactive(DigitTile.pixels, pixels)
        self.set_reactive(DigitTile.caption, caption)
        self.set_reactive(DigitTile.compact, compact)
        self.set_class(compact, "-compact")

    def compose(self) -> ComposeResult:
        yield _StyledDigitImage(self._shown())
        yield Static(self.caption, classes="caption", markup=False)

    def _shown(self) -> np.ndarray | None:
        if self.pixels is None:
            return None
        return halve(self.pixels) if self.compact else self.pixels

    def show(self, pixels: np.ndarray, caption: str, compact: bool = False) -> None:
        self.compact = compact
        self.caption = caption
        self.pixels = pixels

    def watch_pixels(self) -> None:
        # Before compose there are no children; compose then reads the current values.
        for image in self.query_children(DigitImage):
            image.pixels = self._shown()

    def watch_caption(self, caption: str) -> None:
        for label in self.query_children(".caption"):
            label.update(caption)

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self.watch_pixels()
