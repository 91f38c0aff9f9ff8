"""SaliencyOverlay: a digit in grey with its saliency laid over it in heat colours, in half blocks."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from mnist_tui.app.widgets.halfblocks import heat, rgb_color

INK = 0.35  # without colour: a cell is ink or salient above this


def blend(digit: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """float (h, w) digit and saliency in [0, 1] -> uint8 (h, w, 3): the grey digit tinted by the heat colours."""
    grey = (digit * 160)[..., None].repeat(3, axis=-1)  # dimmed, so the saliency stands out on the strokes
    alpha = np.clip(saliency * 1.5, 0, 1)[..., None]
    return (grey * (1 - alpha) + heat(saliency) * alpha).clip(0, 255).astype(np.uint8)


class SaliencyOverlay(Widget):
    """Shows the `digit` and `saliency` (uint8 or float [0, 1], same even-height shape) it is handed."""

    DEFAULT_CSS = """
    SaliencyOverlay { width: auto; height: auto; }
    """

    digit: reactive[np.ndarray | None] = reactive(None, layout=True, always_update=True)
    saliency: reactive[np.ndarray | None] = reactive(None, always_update=True)

    def show(self, digit: np.ndarray, saliency: np.ndarray) -> None:
        self.saliency = _as_float(saliency)
        self.digit = _as_float(digit)

    def _shape(self) -> tuple[int, int]:
        return (28, 28) if self.digit is None else self.digit.shape

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self._shape()[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._shape()[0] // 2

    def render_line(self, y: int) -> Strip:
        height, width = self._shape()
        if y >= height // 2:
            return Strip.blank(self.size.width, Style.null())
        digit = self.digit if self.digit is not None else np.zeros((height, width), np.float32)
        saliency = (
            self.saliency if self.saliency is not None and self.saliency.shape == digit.shape else np.zeros_like(digit)
        )
        rows = slice(2 * y, 2 * y + 2)
        segments = []
        if self.app.no_color:
            # Two halves cannot carry two kinds of mark: salient cells are solid, the rest of the ink is shaded.
            for x in range(width):
                salient, ink = saliency[rows, x].max(), digit[rows, x].max()
                char = "█" if salient >= INK else "░" if ink >= INK else " "
                segments.append(Segment(char, Style.null()))
        else:
            rgb = blend(digit[rows], saliency[rows])
            for x in range(width):
                segments.append(Segment("▀", Style(color=rgb_color(rgb[0, x]), bgcolor=rgb_color(rgb[1, x]))))
        return Strip(segments).crop(0, self.size.width)


def _as_float(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    return array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
