"""DigitImage: a 28x28 image drawn with half blocks, two pixels per character cell."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from mnist_tui.app.widgets.halfblocks import half_blocks


class DigitImage(Widget):
    """Draws `pixels` (uint8 HxW, H even) at `scale` characters per pixel column."""

    DEFAULT_CSS = """
    DigitImage { width: auto; height: auto; }
    """

    pixels: reactive[np.ndarray | None] = reactive(None, layout=True, always_update=True)
    cursor: reactive[tuple[int, int] | None] = reactive(None)

    def __init__(self, pixels: np.ndarray | None = None, scale: int = 1, cmap: str = "gray", **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = scale
        self.cmap = cmap
        self.set_reactive(DigitImage.pixels, None if pixels is None else np.asarray(pixels, dtype=np.uint8))

    def _shape(self) -> tuple[int, int]:
        return (28, 28) if self.pixels is None else self.pixels.shape[:2]

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self._shape()[1] * self.scale

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._shape()[0] * self.scale // 2

    def render_line(self, y: int) -> Strip:
        height, width = self._shape()
        pixels = self.pixels if self.pixels is not None else np.zeros((height, width), np.uint8)
        rows = height * self.scale // 2
        if y >= rows:
            return Strip.blank(self.size.width, Style.null())
        # Each character row covers two pixel rows at scale 1 (one pixel row drawn twice at scale 2).
        top_row = (2 * y) // self.scale
        bottom_row = (2 * y + 1) // self.scale
        top, bottom = pixels[top_row], pixels[bottom_row]
        segments = half_blocks(top, bottom, self.cmap, self.app.no_color, self.scale)
        if self.cursor is not None:
            cx, cy = self.cursor
            if top_row == cy or bottom_row == cy:
                theme = self.app.theme_variables
                segments[cx] = Segment(
                    "▚" * self.scale if not self.app.no_color else "+" * self.scale,
                    Style(color=theme["accent"], bgcolor=theme["background"], bold=True),
                )
        return Strip(segments).crop(0, self.size.width)
