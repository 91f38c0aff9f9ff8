"""Pixels drawn as half blocks, two pixel rows per character cell: the colormaps and one row of cells.

The colormaps turn pixel intensities into colours, so they are data, not theme: a saliency map reads the
same in every theme. Widgets take the colours of their chrome (cursor, captions) from the theme."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style

# Saliency heatmap: black -> red -> yellow -> white.
HEAT = np.array([[0, 0, 0], [180, 20, 0], [255, 160, 0], [255, 255, 255]], dtype=float)


def heat(values: np.ndarray) -> np.ndarray:
    """float [0, 1] (...) -> float RGB (..., 3) along HEAT."""
    pos = values * (len(HEAT) - 1)
    low = np.clip(np.floor(pos).astype(int), 0, len(HEAT) - 2)
    frac = (pos - low)[..., None]
    return HEAT[low] * (1 - frac) + HEAT[low + 1] * frac


def colormap(values: np.ndarray, name: str) -> np.ndarray:
    """uint8 (...) -> uint8 RGB (..., 3): "heat", else grey."""
    v = values.astype(float) / 255.0
    if name == "heat":
        return heat(v).astype(np.uint8)
    gray = (v * 255).astype(np.uint8)
    return np.stack([gray] * 3, axis=-1)


def rgb_color(value) -> str:
    return f"rgb({int(value[0])},{int(value[1])},{int(value[2])})"


def block_glyph(top: int, bottom: int) -> str:
    """Without colour, choose the block glyph by thresholding each half."""
    return {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}[(top >= 96, bottom >= 96)]


def half_blocks(top: np.ndarray, bottom: np.ndarray, cmap: str, no_color: bool, scale: int = 1) -> list[Segment]:
    """One segment per pixel column of two uint8 pixel rows, `scale` characters wide: the top row in the
    glyph's colour and the bottom row behind it; with `no_color`, a thresholded block glyph."""
    if no_color:
        # A null style, not None: Textual's no-colour filter reads every segment's style.
        return [Segment(block_glyph(int(t), int(b)) * scale, Style.null()) for t, b in zip(top, bottom)]
    top_rgb, bottom_rgb = colormap(top, cmap), colormap(bottom, cmap)
    return [Segment("▀" * scale, Style(color=rgb_color(t), bgcolor=rgb_color(b))) for t, b in zip(top_rgb, bottom_rgb)]
