"""Test predictions: draw a digit, open an image file or step through the test set, with probabilities and saliency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Select, Static, TabbedContent, TabPane

from .. import runs
from ..config import PRESETS
from ..messages import RunsChanged
from ..places import no_runs, runs_place
from ..widgets.canvas import DigitCanvas
from ..widgets.digit import DigitImage
from ..widgets.path_input import PathInput
from ..widgets.prediction_view import PredictionView, Shown

TABS = ("draw", "file", "test")
THUMBNAIL = 28  # the original image file is shown downscaled to fit 28x28 pixels (28x14 cells)
BIG_CANVAS = (120, 40)  # terminal size from which the canvas is drawn at twice the size
TEST_KEYS = {"step", "random", "toggle_mistakes"}


class TestPane(Vertical, can_focus=True):
    """The test-set tab's body: focusable, so the arrows reach the screen's browser keys, not the tab bar."""


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


class PredictScreen(Screen):
    TITLE = "Test predictions"
    AUTO_FOCUS = ""  # refresh_runs focuses the canvas, or nothing when there is no model to draw for
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "show_tab('draw')", "Draw", show=False),
        Binding("2", "show_tab('file')", "Image file", show=False),
        Binding("3", "show_tab('test')", "Test set", show=False),
        Binding("i", "toggle_input", "Model input"),
        Binding("s", "switch_model", "Model"),
        Binding("t", "quick_train", "Quick training"),
        Binding("left", "step(-1)", "Prev"),
        Binding("right", "step(1)", "Next"),
        Binding("r", "random", "Random"),
        Binding("m", "toggle_mistakes", "Misclassified"),
        Binding("l", "inspect", "Model"),
    ]

    # -------------------------------------------------- messages (posted from the workers)

    class ModelLoaded(Message):
        def __init__(self, run_dir: Path, model, checkpoint: dict) -> None:
            super().__init__()
            self.run_dir = run_dir
            self.model = model
            self.checkpoint = checkpoint

    class ModelFailed(Message):
        def __init__(self, run_dir: Path, reason: str) -> None:
            super().__init__()
            self.run_dir = run_dir
            self.reason = reason

    class Predicted(Message):
        """One tab's digit was predicted; `original` is the downscaled image file, for the file tab."""

        def __init__(self, source: str, shown: Shown, original: np.ndarray | None = None, caption: str = "") -> None:
            super().__init__()
            self.source = source
            self.shown = shown
            self.original = original
            self.caption = caption

    class PredictionFailed(Message):
        """Nothing to predict on one tab: a blank canvas ("draw a digit"), a bad file, missing data."""

        def __init__(self, source: str, reason: str) -> None:
            super().__init__()
            self.source = source
            self.reason = reason

    class TestSetLoaded(Message):
        def __init__(self, images: np.ndarray, labels: np.ndarray, synthetic: bool) -> None:
            super().__init__()
            self.images = images
            self.labels = labels
            self.synthetic = synthetic

    class MistakesFound(Message):
        def __init__(self, run_dir: Path, indices: np.ndarray) -> None:
            super().__init__()
            self.run_dir = run_dir
            self.indices = indices

    # -------------------------------------------------- layout

    def __init__(self) -> None:
        super().__init__()
        self.choices: list[runs.RunInfo] = []
        self.model = None
        self.run_dir: Path | None = None  # the run whose weights are loaded
        self.file_path: str | None = None
        self.test_images: np.ndarray | None = None
        self.test_labels: np.ndarray | None = None
        self.test_synthetic = False
        self.test_index = 0
        self.mistakes: np.ndarray | None = None  # indices of misclassified test images, for `run_dir`
        self.only_mistakes = False
        self.rng = np.random.default_rng()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="predict-model"):
            yield Static("model", id="predict-model-label")
            # the model Select is mounted here by refresh_runs once there are runs: no blank "no runs" entry
            yield Static("", id="predict-model-info", markup=False)
        yield Static("", id="predict-empty", classes="hidden")
        with TabbedContent(id="predict-tabs"):
            with TabPane("1 Draw", id="draw"):
                with Horizontal(classes="predict-body"):
                    with Vertical(classes="predict-left"):
                        yield DigitCanvas(id="canvas")
                        yield Static(
                            "drag paints, right-drag erases\narrows move, shift+arrows draw\n+ and - change the brush",
                            id="draw-hint",
                        )
                    yield PredictionView(status="draw a digit", id="draw-view")
            with TabPane("2 Image file", id="file"):
                with Horizontal(classes="predict-body"):
                    with Vertical(classes="predict-left"):
                        yield PathInput(compact=True, id="file-path")
                        yield Static(
                            "Type a path; → completes it, enter predicts. Digits type here: shift+tab leaves the "
                            "box, then 1 2 3 switch tabs.",
                            id="file-status",
                            markup=False,
                        )
                        yield DigitImage(None, id="file-original", classes="hidden")
                        yield Static("", id="file-caption")
                    yield PredictionView(show_input=True, status="no image yet", id="file-view")
            with TabPane("3 Test set", id="test"):
                with TestPane(classes="predict-body", id="test-pane"):
                    with Horizontal():
                        yield Static("Loading the test set ...", id="test-status")
                        yield PredictionView(show_input=True, status="", id="test-view")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_resize(self) -> None:
        width, height = BIG_CANVAS
        self.query_one(DigitCanvas).scale = 2 if self.size.width >= width and self.size.height >= height else 1

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.refresh_runs()

    # -------------------------------------------------- model choice

    def refresh_runs(self) -> None:
        """List the runs with weights; load the default one if nothing is loaded yet."""
        self.choices = [r for r in runs.list_runs(self.app.runs_dir) if r.has_checkpoint and r.status in runs.SUCCESS]
        empty = not self.choices
        stale = runs.clear_stale_default(self.app.runs_dir)
        if stale:
            self.notify(
                f"{runs_place(self.app.runs_dir)}/DEFAULT named {stale}, which no longer exists; cleared it",
                title="Default run",
                severity="warning",
                markup=False,
            )
        self.query_one("#predict-empty", Static).update(
            f"{escape(no_runs(self.app.runs_dir, 'No trained model'))}, so there is nothing to predict with.\n\n"
            "Press [b]t[/b] for a quick training "
            f"(3-layer, fast preset: {PRESETS['fast']['epoch_fraction']:g} of an epoch, "
            "under a minute on a laptop CPU).\n"
            "The dashboard opens; come back here (escape) when it has finished."
        )
        self.query_one("#predict-empty").set_class(not empty, "hidden")
        self.query_one("#predict-tabs").display = not empty
        self.query_one("#predict-model").display = not empty
        if empty:
            self.set_focus(None)  # the hidden canvas's keys would show in the footer and do nothing
            self.refresh_bindings()
            return
        if self.focused is None:
            self.query_one(DigitCanvas).focus()
        current = self.run_dir if self.run_dir and any(r.path == self.run_dir for r in self.choices) else None
        if current is None:
            default = runs.default_run(self.app.runs_dir)
            current = default.path if default else self.choices[0].path
            self._load(current)
        options = [(self._label(r), str(r.path)) for r in self.choices]
        selects = self.query("#predict-select").results(Select)
        select = next(selects, None)
        if select is None:
            select = Select(options, value=str(current), allow_blank=False, compact=True, id="predict-select")
            self.query_one("#predict-model").mount(select, after="#predict-model-label")
        elif select.is_mounted:  # else it was made a moment ago, with these options
            with self.prevent(Select.Changed):
                select.set_options(options)
                select.value = str(current)
        self.refresh_bindings()

    @staticmethod
    def _label(info: runs.RunInfo) -> Text:
        acc = f"{info.test_acc * 100:.2f}%" if info.test_acc is not None else info.status
        return Text(f"{runs.run_label(info.model, info.augment)}  {acc}  {info.started}")

    def _load(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.model = None
        self.mistakes = None
        self.query_one("#predict-model-info", Static).update(f"loading {run_dir.name} ...")
        self.load_model(run_dir)

    @on(Select.Changed, "#predict-select")
    def _model_chosen(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL and Path(str(event.value)) != self.run_dir:
            self._load(Path(str(event.value)))
            self.call_after_refresh(self._focus_tab)  # back to drawing or browsing, not the model list

    def action_switch_model(self) -> None:
        select = self.query_one("#predict-select", Select)
        select.focus()
        select.expanded = True

    def action_quick_train(self) -> None:
        from ..config import make_config

        data_dir = str(self.app.data_dir) if self.app.data_dir else None
        config = make_config("3-layer", preset="fast", data_dir=data_dir, runs_dir=str(self.app.runs_dir))
        self.app.start_training([config])
        self.app.open_screen("dashboard")

    # -------------------------------------------------- work (off the UI thread; posts messages only)

    @work(thread=True, exclusive=True, group="predict-model")
    def load_model(self, run_dir: Path) -> None:
        from ..inference import load_run  # imports torch: here, never on the UI thread
        from ..runs import RunError

        try:
            run = load_run(run_dir)  # the model with the precision, TTA and normalisation its run was tested with
        except RunError as error:
            self.post_message(self.ModelFailed(run_dir, str(error)))
        except Exception as error:  # noqa: BLE001 - one line on screen, not a crash
            self.post_message(self.ModelFailed(run_dir, f"{type(error).__name__}: {error}"))
        else:
            self.post_message(self.ModelLoaded(run_dir, run, run.checkpoint))

    @work(thread=True, exclusive=True, group="predict-draw")
    def predict_canvas(self, model, pixels: np.ndarray) -> None:
        from ..preprocess import BlankImage, preprocess

        try:
            image = preprocess(pixels, invert=False)  # the canvas is white on black already
        except BlankImage as blank:
            self._post_if_current(self.PredictionFailed("draw", str(blank)))
            return
        self._post_if_current(self.Predicted("draw", self._shown(model, image)))

    @work(thread=True, exclusive=True, group="predict-file")
    def predict_file(self, model, path: str) -> None:
        from ..preprocess import BlankImage, ImageError, load_image, preprocess

        try:
            original = load_image(Path(path).expanduser())
            image = preprocess(original)
        except ImageError as error:
            self._post_if_current(self.PredictionFailed("file", str(error)))
            return
        except BlankImage:
            self._post_if_current(self.PredictionFailed("file", f"{path}: blank image, no digit found"))
            return
        h, w = original.shape
        self._post_if_current(
            self.Predicted("file", self._shown(model, image), thumbnail(original), f"original {w}x{h}")
        )

    @work(thread=True, exclusive=True, group="predict-test-data")
    def load_test_set(self) -> None:
        from ..data import DataError, default_data_dir, load_arrays

        try:
            arrays = load_arrays(self.app.data_dir or default_data_dir())
        except (DataError, OSError, ValueError) as error:
            self.post_message(self.PredictionFailed("test", f"No test set: {error}"))
            return
        self.post_message(self.TestSetLoaded(arrays.test_images, arrays.test_labels, arrays.synthetic))

    @work(thread=True, exclusive=True, group="predict-test")
    def predict_test(self, model, image: np.ndarray, label: int) -> None:
        self._post_if_current(self.Predicted("test", self._shown(model, image, label)))

    @work(thread=True, exclusive=True, group="predict-mistakes")
    def find_mistakes(self, model, run_dir: Path, images: np.ndarray, labels: np.ndarray) -> None:
        from ..predict import predict_probs

        probs = predict_probs(model, images)
        self._post_if_current(self.MistakesFound(run_dir, np.flatnonzero(probs.argmax(1) != labels)))

    @staticmethod
    def _shown(model, image: np.ndarray, label: int | None = None) -> Shown:
        from ..saliency import DEFAULT_METHOD, METHODS, predict_with_saliency

        prediction = predict_with_saliency(model, image, method=DEFAULT_METHOD)
        return Shown(prediction.probs, prediction.saliency, image, label, METHODS[DEFAULT_METHOD])

    def _post_if_current(self, message: Message) -> None:
        """A newer request of the same kind cancelled this one: its answer is stale, so it is dropped."""
        from textual.worker import get_current_worker

        if not get_current_worker().is_cancelled:
            self.post_message(message)

    # -------------------------------------------------- messages

    def on_predict_screen_model_loaded(self, message: ModelLoaded) -> None:
        if message.run_dir != self.run_dir:
            return
        self.model = message.model
        info = next((r for r in self.choices if r.path == message.run_dir), None)
        acc = f"test {info.test_acc * 100:.2f}%" if info and info.test_acc is not None else ""
        params = f"{info.params:,} params" if info and info.params else ""
        self.query_one("#predict-model-info", Static).update("  ".join(x for x in (acc, params) if x))
        self.sub_title = message.run_dir.name
        self.predict_all()

    def on_predict_screen_model_failed(self, message: ModelFailed) -> None:
        if message.run_dir == self.run_dir:
            self.query_one("#predict-model-info", Static).update(f"✘ {message.reason}")
            self.notify(message.reason, title="Could not load the model", severity="error", markup=False)

    def on_predict_screen_predicted(self, message: Predicted) -> None:
        self.query_one(f"#{message.source}-view", PredictionView).show(message.shown)
        if message.source == "file":
            original = self.query_one("#file-original", DigitImage)
            original.pixels = message.original
            original.remove_class("hidden")
            self.query_one("#file-caption", Static).update(message.caption)
            self.query_one("#file-status", Static).update("")

    def on_predict_screen_prediction_failed(self, message: PredictionFailed) -> None:
        self.query_one(f"#{message.source}-view", PredictionView).clear(message.reason)
        if message.source == "file":
            self.query_one("#file-original").add_class("hidden")
            self.query_one("#file-caption", Static).update("")
            self.query_one("#file-status", Static).update(f"✘ {message.reason}")
        elif message.source == "test":
            self.query_one("#test-status", Static).update(Text(f"✘ {message.reason}"))

    def on_digit_canvas_changed(self, message: DigitCanvas.Changed) -> None:
        self.predict_drawing(message.pixels)

    @on(PathInput.Submitted, "#file-path")
    def _path_submitted(self, event: PathInput.Submitted) -> None:
        self.file_path = event.value.strip() or None
        if self.file_path:
            self.query_one("#file-status", Static).update(f"reading {self.file_path} ...")
            self.predict_path()

    def on_predict_screen_test_set_loaded(self, message: TestSetLoaded) -> None:
        self.test_images, self.test_labels, self.test_synthetic = message.images, message.labels, message.synthetic
        self.show_test()
        self.refresh_bindings()

    def on_predict_screen_mistakes_found(self, message: MistakesFound) -> None:
        if message.run_dir != self.run_dir:
            return
        self.mistakes = message.indices
        if self.only_mistakes and len(self.mistakes):
            self.test_index = int(self.mistakes[0])
        self.show_test()

    # -------------------------------------------------- predicting what each tab shows

    def predict_all(self) -> None:
        """A new model: predict again whatever the tabs show."""
        canvas = self.query_one(DigitCanvas)
        if canvas.pixels.any():
            self.predict_drawing(canvas.pixels.copy())
        if self.file_path:
            self.predict_path()
        if self.test_images is not None:
            if self.only_mistakes:
                self.find_mistakes(self.model, self.run_dir, self.test_images, self.test_labels)
            self.show_test()

    def predict_drawing(self, pixels: np.ndarray) -> None:
        if self.model is None:
            self.query_one("#draw-view", PredictionView).clear("loading the model ...")
        elif not pixels.any():
            self.query_one("#draw-view", PredictionView).clear("draw a digit")
        else:
            self.predict_canvas(self.model, pixels)

    def predict_path(self) -> None:
        if self.model is not None and self.file_path:
            self.predict_file(self.model, self.file_path)

    def show_test(self) -> None:
        """Show the current test image's number and label at once; its prediction follows from a worker."""
        if self.test_images is None:
            return
        total = len(self.test_labels)
        kind = "synthetic test images" if self.test_synthetic else "test images"
        lines = [
            f"test image #{self.test_index + 1:,} of {total:,} {kind}",
            f"true label {int(self.test_labels[self.test_index])}",
        ]
        if self.only_mistakes:
            if self.mistakes is None:
                lines.append("finding the misclassified images ...")
            elif not len(self.mistakes):
                lines.append("no misclassified images: every one is right")
            else:
                position = int(np.searchsorted(self.mistakes, self.test_index))
                lines.append(f"misclassified {position + 1:,} of {len(self.mistakes):,}")
        else:
            lines.append("all images")
        lines += ["", "← → step", "r random image", f"m misclassified only ({'on' if self.only_mistakes else 'off'})"]
        self.query_one("#test-status", Static).update("\n".join(lines))
        if self.model is not None:
            self.predict_test(self.model, self.test_images[self.test_index], int(self.test_labels[self.test_index]))

    # -------------------------------------------------- actions

    def action_show_tab(self, tab: str) -> None:
        if self.query_one("#predict-tabs").display:
            self.query_one(TabbedContent).active = tab

    @on(TabbedContent.TabActivated, "#predict-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Focus what the tab is driven with, so its keys work without a mouse."""
        tab = event.pane.id
        if not self.choices:
            return  # the tabs are hidden until there is a model
        self._focus_tab()
        if tab == "test" and self.test_images is None:
            self.load_test_set()
        self.refresh_bindings()

    def _focus_tab(self) -> None:
        tab = self.query_one(TabbedContent).active
        self.query_one({"draw": DigitCanvas, "file": PathInput, "test": TestPane}[tab]).focus()

    def action_inspect(self) -> None:
        """The Model screen for this run, with the canvas digit (the test digit on the Test set tab)."""
        if self.run_dir is None:
            self.notify("No model loaded yet.", severity="warning")
            return
        image = None
        if self.query_one(TabbedContent).active == "test" and self.test_images is not None:
            image = self.test_images[self.test_index]
        else:
            pixels = self.query_one("#canvas", DigitCanvas).pixels
            image = pixels.copy() if pixels.any() else None  # a blank canvas: the Model screen takes a test digit
        self.app.open_screen("model", self.run_dir, image)

    def action_toggle_input(self) -> None:
        view = self.query_one("#draw-view", PredictionView)
        view.show_input = not view.show_input

    def _browsable(self) -> list[int] | np.ndarray | None:
        if self.test_images is None:
            return None
        if self.only_mistakes:
            return self.mistakes if self.mistakes is not None and len(self.mistakes) else None
        return np.arange(len(self.test_labels))

    def action_step(self, step: int) -> None:
        indices = self._browsable()
        if indices is None:
            return
        position = int(np.searchsorted(indices, self.test_index))
        if step < 0:
            position -= 1
        elif position < len(indices) and indices[position] == self.test_index:
            position += 1
        self.test_index = int(indices[position % len(indices)])
        self.show_test()

    def action_random(self) -> None:
        indices = self._browsable()
        if indices is not None:
            self.test_index = int(indices[self.rng.integers(len(indices))])
            self.show_test()

    def action_toggle_mistakes(self) -> None:
        if self.test_images is None:
            return
        self.only_mistakes = not self.only_mistakes
        if self.only_mistakes and self.mistakes is None and self.model is not None:
            self.find_mistakes(self.model, self.run_dir, self.test_images, self.test_labels)
        elif self.only_mistakes and self.mistakes is not None and len(self.mistakes):
            position = int(np.searchsorted(self.mistakes, self.test_index)) % len(self.mistakes)
            self.test_index = int(self.mistakes[position])
        self.show_test()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Each key shows only where it does something: browser keys on the test tab, `t` with no runs."""
        if not self.is_mounted:
            return True
        has_runs = bool(self.choices)
        tab = self.query_one(TabbedContent).active
        if action == "quick_train":
            return not has_runs
        if action == "switch_model":
            return has_runs
        if action == "toggle_input":
            return has_runs and tab == "draw"
        if action in TEST_KEYS:
            return has_runs and tab == "test" and self.test_images is not None
        return True
