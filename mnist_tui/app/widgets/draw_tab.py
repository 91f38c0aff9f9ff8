"""DrawTab: the Draw tab of Test predictions: a canvas, and the live prediction and saliency of the drawing."""

from __future__ import annotations

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from mnist_tui.app.widgets.canvas import DigitCanvas
from mnist_tui.app.widgets.predict_tab import PredictTab
from mnist_tui.app.widgets.prediction_view import PredictionView

HINT = "drag paints, right-drag erases\narrows move, shift+arrows draw\n+ and - change the brush"


class DrawTab(PredictTab):
    """Predicts the drawing each time it changes, with the model it is handed."""

    DEFAULT_CSS = "DrawTab { layout: horizontal; height: 1fr; }"
    BINDINGS = [Binding("i", "toggle_input", "Input")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="predict-left"):
            yield DigitCanvas(id="canvas")
            yield Static(HINT, id="draw-hint")
        yield PredictionView(status="draw a digit", id="draw-view")

    def drawing(self) -> np.ndarray | None:
        """A copy of the drawing, or None while the canvas is blank."""
        pixels = self.query_one(DigitCanvas).pixels
        return pixels.copy() if pixels.any() else None

    def predict_again(self) -> None:
        drawing = self.drawing()
        if drawing is not None:
            self._predict(drawing)

    def on_digit_canvas_changed(self, message: DigitCanvas.Changed) -> None:
        self._predict(message.pixels)

    def _predict(self, pixels: np.ndarray) -> None:
        view = self.query_one(PredictionView)
        if self.model is None:
            view.clear("loading the model ...")
        elif not pixels.any():
            view.clear("draw a digit")
        else:
            self.predict_canvas(self.model, pixels)

    @work(thread=True, exclusive=True, group="predict-draw")
    def predict_canvas(self, model, pixels: np.ndarray) -> None:
        from mnist_tui.analysis.preprocess import BlankImage, preprocess

        try:
            image = preprocess(pixels, invert=False)  # the canvas is white on black already
        except BlankImage as blank:
            self.post_if_current(self.PredictionFailed(str(blank)))
            return
        self.post_if_current(self.Predicted(self.shown(model, image)))

    def on_predict_tab_predicted(self, message: PredictTab.Predicted) -> None:
        self.query_one(PredictionView).show(message.shown)

    def on_predict_tab_prediction_failed(self, message: PredictTab.PredictionFailed) -> None:
        self.query_one(PredictionView).clear(message.reason)

    def action_toggle_input(self) -> None:
        view = self.query_one(PredictionView)
        view.show_input = not view.show_input
