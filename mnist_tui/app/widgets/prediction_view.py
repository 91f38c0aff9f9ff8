"""PredictionView: the top class large, the ten probabilities, and the saliency heatmap and overlay for one digit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Digits, Static

from mnist_tui.app.widgets.digit import DigitImage
from mnist_tui.app.widgets.digit_tile import halve
from mnist_tui.app.widgets.overlay import SaliencyOverlay
from mnist_tui.app.widgets.probabilities import ProbabilityBars
from mnist_tui.common.text import pct

CELL = 29  # a full-size image and the gap after it
HEAD_ROWS = 11  # headline and ten bars
IMAGE_ROWS = 15  # 14 rows of half blocks and a caption


@dataclass(frozen=True)
class Shown:
    """One prediction to show: what the model saw, what it answered and where it looked."""

    probs: np.ndarray  # (10,)
    saliency: np.ndarray  # float (28, 28) in [0, 1]
    model_input: np.ndarray  # float (28, 28) in [0, 1] or uint8
    label: int | None = None  # the true class, when known (test images)
    method: str = "saliency"  # the saliency method's name, the map's caption

    @property
    def top(self) -> int:
        return int(np.argmax(self.probs))


def _uint8(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    return array if array.dtype == np.uint8 else (array.clip(0, 1) * 255).astype(np.uint8)


class PredictionView(Widget):
    """Shows the `shown` prediction it is handed, or `status` (e.g. "draw a digit") when there is none."""

    DEFAULT_CSS = """
    PredictionView { height: 1fr; width: 1fr; }
    PredictionView .pv-head { height: auto; }
    PredictionView .pv-top { width: auto; min-width: 5; margin-right: 1; }
    PredictionView .pv-side { height: auto; width: 1fr; }
    PredictionView .pv-headline { height: 1; }
    PredictionView .pv-images { height: auto; }
    PredictionView .pv-cell { width: auto; height: auto; margin-right: 1; }
    PredictionView .pv-caption { width: 28; height: 1; text-align: center; }
    PredictionView.-compact .pv-caption { width: 14; }
    """

    shown: reactive[Shown | None] = reactive(None, always_update=True)
    status: reactive[str] = reactive("")
    show_input: reactive[bool] = reactive(False)
    compact: reactive[bool] = reactive(False)

    def __init__(self, show_input: bool = False, status: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_reactive(PredictionView.show_input, show_input)
        self.set_reactive(PredictionView.status, status)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="pv-head"):
            yield Digits("-", classes="pv-top")
            with Vertical(classes="pv-side"):
                yield Static(self.status, classes="pv-headline", markup=False)
                yield ProbabilityBars()
        with Horizontal(classes="pv-images"):
            with Vertical(classes="pv-cell pv-input"):
                yield DigitImage(None, id=None)
                yield Static("model input", classes="pv-caption")
            with Vertical(classes="pv-cell"):
                yield DigitImage(None, cmap="heat", classes="pv-heat")
                yield Static("saliency", classes="pv-caption pv-method", markup=False)
            with Vertical(classes="pv-cell"):
                yield SaliencyOverlay()
                yield Static("overlay", classes="pv-caption")

    def on_mount(self) -> None:
        self.query_one(".pv-input").display = self.show_input
        self._update()

    def show(self, shown: Shown) -> None:
        self.status = ""
        self.shown = shown

    def clear(self, status: str) -> None:
        self.shown = None
        self.status = status

    def watch_shown(self) -> None:
        self._update()

    def watch_status(self) -> None:
        self._update()

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._update()

    def watch_show_input(self, show: bool) -> None:
        if self.is_mounted:
            self.query_one(".pv-input").display = show
            self._fit(self.size.width, self.size.height)

    def on_resize(self) -> None:
        self._fit(self.size.width, self.size.height)

    def _fit(self, width: int, height: int) -> None:
        """Full-size images when they fit beside each other and under the bars; else half size."""
        images = 3 if self.show_input else 2
        self.compact = width < images * CELL or height < HEAD_ROWS + IMAGE_ROWS + 1

    def _update(self) -> None:
        if not self.is_mounted:
            return
        shown = self.shown
        headline = self.query_one(".pv-headline", Static)
        bars = self.query_one(ProbabilityBars)
        top = self.query_one(".pv-top", Digits)
        images = self.query(DigitImage)
        overlay = self.query_one(SaliencyOverlay)
        self.query_one(".pv-images").display = shown is not None
        if shown is None:
            headline.update(self.status)
            top.update("-")
            bars.label = None
            bars.probs = None
            return
        p = float(shown.probs[shown.top])
        verdict = ""
        if shown.label is not None:
            verdict = "  right" if shown.label == shown.top else f"  wrong: true label {shown.label}"
        headline.update(f"predicted {shown.top} ({pct(p, 1)}){verdict}")
        top.update(str(shown.top))
        bars.label = shown.label
        bars.probs = shown.probs
        digit, saliency = _uint8(shown.model_input), _uint8(shown.saliency)
        if self.compact:
            digit, saliency = halve(digit), halve(saliency)
        self.query_one(".pv-method", Static).update(shown.method)
        images.first().pixels = digit
        images.last().pixels = saliency
        overlay.show(digit, saliency)
