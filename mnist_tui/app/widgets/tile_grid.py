"""TileGrid: many small images (filters, feature maps) drawn in half blocks, as many as fit, paged."""

from __future__ import annotations

import textwrap

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from mnist_tui.app.widgets.halfblocks import half_blocks

GAP = 1  # blank cells between tiles


class TileGrid(Widget):
    """Shows the `tiles` (uint8 squares, all one size) it is handed under a `title`, one page at a time.

    The title (and which tiles are on show) wraps onto more lines when narrow. Each tile row is the tiles (two pixel
    rows per cell row) then a line of captions."""

    DEFAULT_CSS = """
    TileGrid { height: 1fr; }
    """

    tiles: reactive[list] = reactive(list, always_update=True, layout=True)
    captions: reactive[list] = reactive(list)
    title: reactive[str] = reactive("")
    page: reactive[int] = reactive(0)

    def __init__(self, cmap: str = "gray", captioned: bool = True, paged: bool = True, **kwargs) -> None:
        """`paged` False: no key turns the page, so the title says how many tiles show but not which page."""
        super().__init__(**kwargs)
        self.cmap = cmap
        self.captioned = captioned
        self.paged = paged

    def show(self, tiles: list[np.ndarray], captions: list[str], title: str, keep_page: bool = False) -> None:
        self.captions = captions
        self.title = title
        self.tiles = tiles
        self.page = min(self.page, self.pages - 1) if keep_page else 0

    # -------------------------------------------------- geometry

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Room for every tile at this width (the title line, then a band per row of tiles)."""
        if not self.tiles:
            return 1
        per_row = max(1, (width + GAP) // (self.tile_size + GAP))
        return len(textwrap.wrap(self.title, width) or [""]) + -(-len(self.tiles) // per_row) * self.band

    @property
    def tile_size(self) -> int:
        return self.tiles[0].shape[0] if self.tiles else 0

    @property
    def per_row(self) -> int:
        return max(1, (self.size.width + GAP) // (self.tile_size + GAP)) if self.tiles else 1

    @property
    def band(self) -> int:
        """Cell rows per row of tiles: the tile, its caption, a blank line."""
        return (self.tile_size + 1) // 2 + (1 if self.captioned else 0) + 1

    def _per_page(self, header: int) -> int:
        return self.per_row * max(1, (self.size.height - header) // self.band)

    def _header_at(self, header: int) -> list[str]:
        """The title lines, given `header` lines of them (which set how many tiles a page holds)."""
        count, per_page = len(self.tiles), self._per_page(header)
        pages = max(1, -(-count // per_page))
        start = min(self.page, pages - 1) * per_page
        where = f"  {start + 1}-{min(start + per_page, count)} of {count}"
        where += f", page {self.page + 1}/{pages}" if self.paged else ""
        return textwrap.wrap(self.title + (where if pages > 1 else ""), max(1, self.size.width)) or [""]

    @property
    def header(self) -> list[str]:
        lines = self._header_at(1)
        for _ in range(3):  # more title lines leave room for fewer tiles, which may change the page count
            again = self._header_at(len(lines))
            if len(again) == len(lines):
                return again
            lines = again
        return lines

    @property
    def per_page(self) -> int:
        return self._per_page(len(self.header))

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.tiles) // self.per_page))

    def watch_page(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.page = min(self.page, self.pages - 1)
        self.refresh()

    # -------------------------------------------------- rendering

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        header = self.header
        if y < len(header):
            return Strip([Segment(header[y][:width], Style(bold=True))]).extend_cell_length(width)
        shown = self._shown()
        band, y = divmod(y - len(header), self.band)
        row = shown[band * self.per_row : (band + 1) * self.per_row]
        size = self.tile_size
        segments: list[Segment] = []
        if not row or y >= self.band - 1:
            return Strip.blank(width, Style.null())
        if y >= (size + 1) // 2:  # the caption line
            for index in row:
                caption = self.captions[index] if index < len(self.captions) else ""
                segments.append(Segment(caption[:size].center(size) + " " * GAP, Style(dim=True)))
            return Strip(segments).extend_cell_length(width).crop(0, width)
        for index in row:
            tile = self.tiles[index]
            top, bottom = tile[min(2 * y, size - 1)], tile[2 * y + 1] if 2 * y + 1 < size else np.zeros(size, np.uint8)
            segments += half_blocks(top, bottom, self.cmap, self.app.no_color)
            segments.append(Segment(" " * GAP, Style.null()))
        return Strip(segments).extend_cell_length(width).crop(0, width)

    def _shown(self) -> list[int]:
        start = self.page * self.per_page
        return list(range(start, min(start + self.per_page, len(self.tiles))))
