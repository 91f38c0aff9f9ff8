"""TestTab: the Test set tab of Test predictions: step through the test images, or only the misclassified ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from mnist_tui.app.widgets.predict_tab import PredictTab
from mnist_tui.app.widgets.prediction_view import PredictionView

BROWSE = {"step", "random", "toggle_mistakes"}  # the keys that need the test set loaded


class TestTab(PredictTab, can_focus=True):
    """Focusable, so the arrows reach its browser keys, not the tab bar. The screen calls `load(data_dir)` when
    the tab is first shown; the test set then loads in a worker."""

    __test__ = False  # not a pytest class, whatever its name
    DEFAULT_CSS = "TestTab { height: 1fr; }"
    BINDINGS = [
        Binding("left", "step(-1)", "Prev", show=False),  # the tab lists the arrows: room for ? Help at 80 columns
        Binding("right", "step(1)", "Next", show=False),
        Binding("r", "random", "Random"),
        Binding("m", "toggle_mistakes", "Mistakes"),
    ]

    @dataclass
    class Loaded(Message):
        bubble = False

        images: np.ndarray
        labels: np.ndarray
        synthetic: bool

    @dataclass
    class MistakesFound(Message):
        bubble = False

        model: object
        indices: np.ndarray

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.images: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.synthetic = False
        self._loading = False
        self.index = 0
        self.mistakes: np.ndarray | None = None  # indices of misclassified test images, for `model`
        self.only_mistakes = False
        self.rng = np.random.default_rng()

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("Loading the test set ...", id="test-status")
            yield PredictionView(show_input=True, status="", id="test-view")

    def current(self) -> np.ndarray | None:
        """The test image on show, or None before the test set is loaded."""
        return None if self.images is None else self.images[self.index]

    # -------------------------------------------------- work (off the UI thread; posts messages only)

    def load(self, data_dir) -> None:
        if self.images is None and not self._loading:
            self._loading = True
            self.load_test_set(data_dir)

    @work(thread=True, exclusive=True, group="predict-test-data")
    def load_test_set(self, data_dir) -> None:
        from mnist_tui.engine.data import default_data_dir, load_arrays
        from mnist_tui.engine.idx import DataError

        try:
            arrays = load_arrays(data_dir or default_data_dir())
        except (DataError, OSError, ValueError) as error:
            self.post_message(self.PredictionFailed(f"No test set: {error}"))
            return
        self.post_message(self.Loaded(arrays.test_images, arrays.test_labels, arrays.synthetic))

    @work(thread=True, exclusive=True, group="predict-test")
    def predict_test(self, model, image: np.ndarray, label: int) -> None:
        self.post_if_current(self.Predicted(self.shown(model, image, label)))

    @work(thread=True, exclusive=True, group="predict-mistakes")
    def find_mistakes(self, model, images: np.ndarray, labels: np.ndarray) -> None:
        from mnist_tui.analysis.predict import predict_probs

        probs = predict_probs(model, images)
        self.post_if_current(self.MistakesFound(model, np.flatnonzero(probs.argmax(1) != labels)))

    # -------------------------------------------------- messages

    def on_test_tab_loaded(self, message: Loaded) -> None:
        self.images, self.labels, self.synthetic = message.images, message.labels, message.synthetic
        self._loading = False
        self.show_image()
        self.screen.refresh_bindings()

    def on_test_tab_mistakes_found(self, message: MistakesFound) -> None:
        if message.model is not self.model:
            return
        self.mistakes = message.indices
        if self.only_mistakes and len(self.mistakes):
            self.index = int(self.mistakes[0])
        self.show_image()

    def on_predict_tab_predicted(self, message: PredictTab.Predicted) -> None:
        self.query_one(PredictionView).show(message.shown)

    def on_predict_tab_prediction_failed(self, message: PredictTab.PredictionFailed) -> None:
        self._loading = False
        self.query_one(PredictionView).clear(message.reason)
        self.query_one("#test-status", Static).update(Text(f"✘ {message.reason}"))

    # -------------------------------------------------- showing

    def predict_again(self) -> None:
        self.mistakes = None  # they were the previous model's
        if self.images is not None:
            if self.only_mistakes and self.model is not None:
                self.find_mistakes(self.model, self.images, self.labels)
            self.show_image()

    def show_image(self) -> None:
        """Show the current test image's number and label at once; its prediction follows from a worker."""
        if self.images is None:
            return
        kind = "synthetic test images" if self.synthetic else "test images"
        lines = [
            f"test image #{self.index + 1:,} of {len(self.labels):,} {kind}",
            f"true label {int(self.labels[self.index])}",
        ]
        if self.only_mistakes:
            if self.mistakes is None:
                lines.append("finding the misclassified images ...")
            elif not len(self.mistakes):
                lines.append("no misclassified images: every one is right")
            else:
                position = int(np.searchsorted(self.mistakes, self.index))
                lines.append(f"misclassified {position + 1:,} of {len(self.mistakes):,}")
        else:
            lines.append("all images")
        lines += ["", "← → step", "r random image", f"m misclassified only ({'on' if self.only_mistakes else 'off'})"]
        self.query_one("#test-status", Static).update("\n".join(lines))
        if self.model is not None:
            self.predict_test(self.model, self.images[self.index], int(self.labels[self.index]))

    # -------------------------------------------------- keys

    def _browsable(self) -> list[int] | np.ndarray | None:
        if self.images is None:
            return None
        if self.only_mistakes:
            return self.mistakes if self.mistakes is not None and len(self.mistakes) else None
        return np.arange(len(self.labels))

    def action_step(self, step: int) -> None:
        indices = self._browsable()
        if indices is None:
            return
        position = int(np.searchsorted(indices, self.index))
        if step < 0:
            position -= 1
        elif position < len(indices) and indices[position] == self.index:
            position += 1
        self.index = int(indices[position % len(indices)])
        self.show_image()

    def action_random(self) -> None:
        indices = self._browsable()
        if indices is not None:
            self.index = int(indices[self.rng.integers(len(indices))])
            self.show_image()

    def action_toggle_mistakes(self) -> None:
        if self.images is None:
            return
        self.only_mistakes = not self.only_mistakes
        if self.only_mistakes and self.mistakes is None and self.model is not None:
            self.find_mistakes(self.model, self.images, self.labels)
        elif self.only_mistakes and self.mistakes is not None and len(self.mistakes):
            position = int(np.searchsorted(self.mistakes, self.index)) % len(self.mistakes)
            self.index = int(self.mistakes[position])
        self.show_image()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The browser keys show once the test set is loaded."""
        if action in BROWSE:
            return self.images is not None
        return True
