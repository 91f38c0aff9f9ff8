"""MisclassifiedGallery: test images the model got wrong, each drawn with its true and predicted label."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual.app import ComposeResult
from textual.containers import ItemGrid, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Label, Static

from .digit import DigitImage

CELL_WIDTH = 30  # a 28-column digit and a margin on each side


@dataclass(frozen=True)
class Mistake:
    pixels: np.ndarray  # uint8 (28, 28)
    true: int
    pred: int


class MisclassifiedGallery(VerticalScroll):
    """A scrolling grid of the mistakes it is handed; `status` is the line above them."""

    mistakes: reactive[list[Mistake]] = reactive(list, recompose=True)
    status: reactive[str] = reactive("evaluating ...")

    def compose(self) -> ComposeResult:
        yield Static(self.status, id="gallery-status", markup=False)
        with ItemGrid(min_column_width=CELL_WIDTH, id="gallery-grid"):
            for mistake in self.mistakes:
                with Vertical(classes="gallery-cell"):
                    yield DigitImage(mistake.pixels)
                    yield Label(f"true {mistake.true} → pred {mistake.pred}", classes="gallery-caption")

    def show(self, mistakes: list[Mistake], status: str) -> None:
        self.status = status
        self.mistakes = mistakes

    def watch_status(self, status: str) -> None:
        for widget in self.query("#gallery-status").results(Static):
            widget.update(status)
