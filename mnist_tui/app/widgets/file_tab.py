"""FileTab: the Image file tab of Test predictions: a path box, the image as read, and its prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from mnist_tui.app.widgets.digit import DigitImage
from mnist_tui.app.widgets.path_input import PathInput
from mnist_tui.app.widgets.predict_tab import PredictTab
from mnist_tui.app.widgets.prediction_view import PredictionView

THUMBNAIL = 28  # the original image file is shown downscaled to fit 28x28 pixels (28x14 cells)
HINT = (
    "Type a path; → completes it, enter predicts. Digits type here: shift+tab leaves the box, then 1 2 3 switch tabs."
)


def thumbnail(image: np.ndarray, box: int = THUMBNAIL) -> np.ndarray:
    """A grayscale float image downscaled to fit box x box, as uint8 with an even number of rows."""
    from PIL import Image

    h, w = image.shape
    scale = min(1.0, box / max(h, w))
    size = (max(1, round(w * scale)), max(2, round(h * scale)))
    pil = Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8))
    small = np.asarray(pil.resize(size, Image.Resampling.LANCZOS) if scale < 1 else pil, dtype=np.uint8)
    if small.shape[0] % 2:
        small = np.vstack([small, np.full((1, small.shape[1]), small[-1].mean(), np.uint8)])
    return small


class FileTab(PredictTab):
    """Reads and predicts the image file whose path is submitted, with the model it is handed."""

    DEFAULT_CSS = "FileTab { layout: horizontal; height: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="predict-left"):
            yield PathInput(compact=True, id="file-path")
            yield Static(HINT, id="file-status", markup=False)
            yield DigitImage(None, id="file-original", classes="hidden")
            yield Static("", id="file-caption", markup=False)
        yield PredictionView(show_input=True, status="no image yet", id="file-view")

    @on(PathInput.Submitted, "#file-path")
    def _path_submitted(self, event: PathInput.Submitted) -> None:
        self.path = event.value.strip() or None
        if self.path:
            self.query_one("#file-status", Static).update(f"reading {self.path} ...")
            self.predict_again()

    def predict_again(self) -> None:
        if self.model is not None and self.path:
            self.predict_file(self.model, self.path)

    @work(thread=True, exclusive=True, group="predict-file")
    def predict_file(self, model, path: str) -> None:
        from mnist_tui.analysis.preprocess import BlankImage, ImageError, load_image, preprocess

        try:
            original = load_image(Path(path).expanduser())
            image = preprocess(original)
        except ImageError as error:
            self.post_if_current(self.PredictionFailed(str(error)))
            return
        except BlankImage:
            self.post_if_current(self.PredictionFailed(f"{path}: blank image, no digit found"))
            return
        h, w = original.shape
        self.post_if_current(self.Predicted(self.shown(model, image), thumbnail(original), f"original {w}x{h}"))

    def on_predict_tab_predicted(self, message: PredictTab.Predicted) -> None:
        self.query_one(PredictionView).show(message.shown)
        original = self.query_one("#file-original", DigitImage)
        original.pixels = message.original
        original.remove_class("hidden")
        self.query_one("#file-caption", Static).update(message.caption)
        self.query_one("#file-status", Static).update("")

    def on_predict_tab_prediction_failed(self, message: PredictTab.PredictionFailed) -> None:
        self.query_one(PredictionView).clear(message.reason)
        self.query_one("#file-original").add_class("hidden")
        self.query_one("#file-caption", Static).update("")
        self.query_one("#file-status", Static).update(f"✘ {message.reason}")
