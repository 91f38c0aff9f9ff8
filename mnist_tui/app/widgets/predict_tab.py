"""PredictTab: what the tabs of Test predictions share: the model they are handed, and their workers' answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from mnist_tui.app.widgets.prediction_view import Shown


class PredictTab(Widget):
    """One tab's body. The screen hands it the loaded run in `model` (None while one loads); each tab predicts
    what it shows again when that changes. Its workers call the headless modules and post their answers here."""

    model = reactive(None, always_update=True, init=False)  # an inference.RunModel; never compared (tensors)

    @dataclass
    class Predicted(Message):
        """A worker's prediction for this tab; `original` is the image file downscaled, for the file tab."""

        bubble = False

        shown: Shown
        original: np.ndarray | None = None
        caption: str = ""

    @dataclass
    class PredictionFailed(Message):
        """Nothing to predict: a blank canvas ("draw a digit"), a bad file, missing data."""

        bubble = False

        reason: str

    def watch_model(self) -> None:
        self.predict_again()

    def predict_again(self) -> None:
        """A new model: predict again whatever the tab shows."""

    @staticmethod
    def shown(model, image: np.ndarray, label: int | None = None) -> Shown:
        """Run on a worker thread: the prediction and saliency map of one image, by the default method."""
        from mnist_tui.analysis.saliency import DEFAULT_METHOD, METHODS, predict_with_saliency

        prediction = predict_with_saliency(model, image, method=DEFAULT_METHOD)
        return Shown(prediction.probs, prediction.saliency, image, label, METHODS[DEFAULT_METHOD])

    def post_if_current(self, message: Message) -> None:
        """A newer request of the same kind cancelled this one: its answer is stale, so it is dropped."""
        from textual.worker import get_current_worker

        if not get_current_worker().is_cancelled:
            self.post_message(message)
