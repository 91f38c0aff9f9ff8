"""DigitCanvas: a 28x28 drawing surface in half blocks, painted with a soft brush by mouse or keyboard."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from mnist_tui.app.widgets.halfblocks import colormap, half_blocks, rgb_color

SIZE = 28
BRUSHES = (0.6, 0.8, 1.0, 1.3, 1.7)  # Gaussian sigma in pixels; 1.0 gives MNIST's 2-3 pixel strokes at 20 px tall
DEFAULT_BRUSH = 2
GAIN = 1.6  # the profile is clipped at 1, so the brush has a solid core and a soft, anti-aliased rim
LIVE_INTERVAL = 0.1  # seconds between Changed messages during a drag: live, but about 10 per second at most
_ROWS, _COLS = np.indices((SIZE, SIZE), dtype=np.float32) + 0.5  # pixel centres; pixel (r, c) covers [r, r+1)


def stroke_profile(
    canvas: np.ndarray, start: tuple[float, float], end: tuple[float, float], sigma: float
) -> np.ndarray:
    """The brush's coverage (0..1) of each pixel for a straight stroke from `start` to `end` (row, col).

    Distance to the segment rather than dabs along it, so a fast drag between two far-apart mouse
    positions leaves no gaps.
    """
    (r0, c0), (r1, c1) = start, end
    dr, dc = r1 - r0, c1 - c0
    length2 = dr * dr + dc * dc
    if length2 > 0:
        t = np.clip(((_ROWS - r0) * dr + (_COLS - c0) * dc) / length2, 0.0, 1.0)
    else:
        t = np.zeros_like(canvas)
    d2 = (_ROWS - (r0 + t * dr)) ** 2 + (_COLS - (c0 + t * dc)) ** 2
    return np.clip(GAIN * np.exp(-d2 / (2 * sigma * sigma)), 0.0, 1.0)


class DigitCanvas(Widget, can_focus=True):
    """Draw a digit: left button (or space) paints, right button (or x) erases, c clears, +/- resize the brush.

    `pixels` is float32 (28, 28) in [0, 1], white ink on black, the way MNIST stores digits.
    """

    DEFAULT_CSS = """
    DigitCanvas { width: auto; height: auto; }
    """

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("shift+up", "move(-1, 0, True)", "Draw up", show=False),
        Binding("shift+down", "move(1, 0, True)", "Draw down", show=False),
        Binding("shift+left", "move(0, -1, True)", "Draw left", show=False),
        Binding("shift+right", "move(0, 1, True)", "Draw right", show=False),
        Binding("space", "dab(False)", "Paint"),
        Binding("x", "dab(True)", "Erase"),
        Binding("c", "clear", "Clear"),
        Binding("plus,equals_sign", "brush(1)", "Brush +", key_display="+", show=False),
        Binding("minus", "brush(-1)", "Brush -", key_display="-", show=False),
    ]

    @dataclass
    class Changed(Message):
        """The drawing changed: a stroke ended, a key painted, or (at most ~10 Hz) a drag is under way."""

        canvas: DigitCanvas
        pixels: np.ndarray  # a copy, safe to hand to a thread
        final: bool  # False while the mouse button is still down

        @property
        def control(self) -> DigitCanvas:
            return self.canvas

    scale: reactive[int] = reactive(1, layout=True)  # 1: 28x14 cells; 2: 56x28 cells, one pixel row per cell row
    cursor: reactive[tuple[int, int]] = reactive((14, 14))  # (row, col) of the keyboard brush
    brush: reactive[int] = reactive(DEFAULT_BRUSH)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pixels = np.zeros((SIZE, SIZE), dtype=np.float32)
        self._stroke: str | None = None  # "paint" or "erase" while a mouse button is down
        self._last: tuple[float, float] | None = None
        self._last_post = 0.0

    # -------------------------------------------------- geometry

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return SIZE * self.scale

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return SIZE * self.scale // 2

    @property
    def sigma(self) -> float:
        return BRUSHES[self.brush]

    def to_pixel(self, event: events.MouseEvent) -> tuple[float, float]:
        """(row, col) in pixel space for a mouse event.

        A cell is `2 / scale` pixel rows tall and `1 / scale` pixel columns wide. Terminals that report
        pixel positions give a fractional pointer; otherwise the brush goes to the cell's centre, which at
        scale 1 lies between its two pixel rows, so both are painted.
        """
        gutter = self.gutter
        x, y = event.pointer_x - gutter.left, event.pointer_y - gutter.top
        x = x if not float(x).is_integer() else x + 0.5
        y = y if not float(y).is_integer() else y + 0.5
        return y * 2 / self.scale, x / self.scale

    # -------------------------------------------------- painting

    def paint(self, start: tuple[float, float], end: tuple[float, float], erase: bool = False) -> None:
        coverage = stroke_profile(self.pixels, start, end, self.sigma)
        if erase:
            np.minimum(self.pixels, 1.0 - coverage, out=self.pixels)
        else:
            np.maximum(self.pixels, coverage, out=self.pixels)
        self.refresh()

    def clear(self) -> None:
        self.pixels[:] = 0
        self.refresh()
        self._post(final=True)

    def load(self, pixels: np.ndarray) -> None:
        """Replace the drawing (float [0, 1] or uint8, 28x28), e.g. to start from a test digit."""
        array = np.asarray(pixels)
        self.pixels = (array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)).clip(
            0, 1
        )
        self.refresh()
        self._post(final=True)

    def _post(self, final: bool) -> None:
        self._last_post = time.monotonic()
        self.post_message(self.Changed(self, self.pixels.copy(), final))

    # -------------------------------------------------- mouse

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button not in (1, 3):
            return
        event.stop()
        self.focus()
        self._stroke = "erase" if event.button == 3 else "paint"
        self.capture_mouse()
        point = self.to_pixel(event)
        self._last = point
        self.cursor = self._clamp(int(point[0]), int(point[1]))
        self.paint(point, point, erase=self._stroke == "erase")
        self._post(final=False)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._stroke is None:
            return
        event.stop()
        point = self.to_pixel(event)
        self.paint(self._last or point, point, erase=self._stroke == "erase")
        self._last = point
        self.cursor = self._clamp(int(point[0]), int(point[1]))
        if time.monotonic() - self._last_post >= LIVE_INTERVAL:
            self._post(final=False)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._stroke is None:
            return
        event.stop()
        self._end_stroke()

    def on_mouse_release(self, event: events.MouseRelease) -> None:
        # The capture was taken away (another screen, the app lost focus): the stroke ends here.
        if self._stroke is not None:
            self._end_stroke(release=False)

    def _end_stroke(self, release: bool = True) -> None:
        self._stroke, self._last = None, None
        if release:
            self.release_mouse()
        self._post(final=True)

    # -------------------------------------------------- keyboard

    def _clamp(self, row: int, col: int) -> tuple[int, int]:
        return min(max(row, 0), SIZE - 1), min(max(col, 0), SIZE - 1)

    def action_move(self, d_row: int, d_col: int, draw: bool = False) -> None:
        row, col = self.cursor
        target = self._clamp(row + d_row, col + d_col)
        if draw:
            self.paint((row + 0.5, col + 0.5), (target[0] + 0.5, target[1] + 0.5))
        self.cursor = target
        if draw:
            self._post(final=True)

    def action_dab(self, erase: bool) -> None:
        row, col = self.cursor
        self.paint((row + 0.5, col + 0.5), (row + 0.5, col + 0.5), erase=erase)
        self._post(final=True)

    def action_clear(self) -> None:
        self.clear()

    def action_brush(self, step: int) -> None:
        self.brush = min(max(self.brush + step, 0), len(BRUSHES) - 1)
        self.notify(f"brush {self.brush + 1} of {len(BRUSHES)}", timeout=1.5)

    # -------------------------------------------------- rendering

    def render_line(self, y: int) -> Strip:
        rows = SIZE * self.scale // 2
        if y >= rows:
            return Strip.blank(self.size.width, Style.null())
        scale = self.scale
        top_row, bottom_row = (2 * y) // scale, (2 * y + 1) // scale
        values = (self.pixels * 255).astype(np.uint8)
        top, bottom = values[top_row], values[bottom_row]
        cursor_row, cursor_col = self.cursor if self.has_focus else (-1, -1)
        segments = half_blocks(top, bottom, "gray", self.app.no_color, scale)
        if cursor_row in (top_row, bottom_row):
            if self.app.no_color:
                segments[cursor_col] = Segment("+" * scale, Style(reverse=True))
            else:
                # Only the cursor's own half of the cell is marked, so the cursor is exact to the pixel.
                mark = self.app.theme_variables["accent"]
                top_rgb, bottom_rgb = (rgb_color(colormap(row[cursor_col], "gray")) for row in (top, bottom))
                if top_row == bottom_row:
                    style = Style(color=mark, bgcolor=mark)
                elif cursor_row == top_row:
                    style = Style(color=mark, bgcolor=bottom_rgb)
                else:
                    style = Style(color=top_rgb, bgcolor=mark)
                segments[cursor_col] = Segment("▀" * scale, style)
        return Strip(segments).crop(0, self.size.width)

    def watch_cursor(self) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
