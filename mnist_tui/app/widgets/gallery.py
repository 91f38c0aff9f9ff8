"""MisclassifiedGallery: every test image the model got wrong, a page at a time, filtered by true and
predicted digit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Select, Static

from mnist_tui.app.widgets.digit_tile import COMPACT, DigitTile

TILE_WIDTH, TILE_HEIGHT = COMPACT[0] + 2, COMPACT[1] + 1  # a half-size tile and its gaps


@dataclass(frozen=True)
class Mistake:
    pixels: np.ndarray  # uint8 (28, 28)
    true: int
    pred: int


def digit_filter(prompt: str, id: str) -> Select:
    return Select([(str(d), d) for d in range(10)], prompt=prompt, allow_blank=True, compact=True, id=id)


class MisclassifiedGallery(Vertical, can_focus=True):
    """Shows the mistakes it is handed, as many to a page as fit; `status` is the short line beside the
    filters, and `note` a paragraph that wraps in the grid's place when there are no mistakes to show."""

    BINDINGS = [
        Binding("n,pagedown,right", "page(1)", "Next page"),
        Binding("b,pageup,left", "page(-1)", "Prev page"),
    ]

    status: reactive[str] = reactive("evaluating ...")
    page: reactive[int] = reactive(0, init=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mistakes: list[Mistake] = []
        self.shown: list[Mistake] = []  # after the filters
        self.per_page = 1
        self.note = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="gallery-bar"):
            yield digit_filter("true: any", "gallery-true")
            yield digit_filter("predicted: any", "gallery-pred")
            yield Static(self.status, id="gallery-status", markup=False)
        yield Static("", id="gallery-page-line", markup=False)
        yield Vertical(id="gallery-grid")

    # -------------------------------------------------- what it is handed

    def show(self, mistakes: list[Mistake], status: str, note: str = "") -> None:
        self.mistakes = mistakes
        self.note = note
        self.status = status
        self._filter()

    def watch_status(self, status: str) -> None:
        for widget in self.query("#gallery-status").results(Static):
            widget.update(status)

    @on(Select.Changed)
    def _filter_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._filter()

    def _filter(self) -> None:
        true, pred = (self.query_one(f"#gallery-{name}", Select).value for name in ("true", "pred"))
        self.shown = [
            m
            for m in self.mistakes
            if (true is Select.NULL or m.true == true) and (pred is Select.NULL or m.pred == pred)
        ]
        self.page = 0
        self._draw()

    # -------------------------------------------------- pages

    def action_page(self, step: int) -> None:
        pages = max(1, -(-len(self.shown) // self.per_page))
        self.page = (self.page + step) % pages

    def watch_page(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    def _fit(self) -> tuple[int, int]:
        grid = self.query_one("#gallery-grid")
        width, height = grid.size
        return max(1, width // TILE_WIDTH), max(1, height // TILE_HEIGHT)

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        columns, rows = self._fit()
        first_shown = self.page * self.per_page
        self.per_page = columns * rows
        self.set_reactive(MisclassifiedGallery.page, first_shown // self.per_page)  # keep the first tile in view
        start = self.page * self.per_page
        page = self.shown[start : start + self.per_page]
        grid = self.query_one("#gallery-grid")
        with self.app.batch_update():
            grid.remove_children()
            if not self.mistakes and self.note:
                grid.mount(Static(self.note, classes="gallery-note", markup=False))
            grid.mount_all(
                Horizontal(
                    *[
                        DigitTile(m.pixels, f"true {m.true} pred {m.pred}", compact=True, classes="gallery-cell")
                        for m in page[r * columns : (r + 1) * columns]
                    ],
                    classes="gallery-row",
                )
                for r in range(-(-len(page) // columns))
            )
        line = self.query_one("#gallery-page-line", Static)
        if not self.mistakes:
            line.update("")
        elif not self.shown:
            line.update("none with these digits; change the filters")
        else:
            pages = -(-len(self.shown) // self.per_page)
            line.update(
                f"{start + 1:,}-{start + len(page):,} of {len(self.shown):,} shown, page {self.page + 1} of "
                f"{pages}  (n/b or ←/→ page)"
            )
