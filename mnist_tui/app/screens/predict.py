"""Test predictions: the model choice, handed down to three tabs: draw a digit, open an image file, the test set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Select, Static, TabbedContent, TabPane

from mnist_tui.app.messages import RunsChanged
from mnist_tui.app.widgets.canvas import DigitCanvas
from mnist_tui.app.widgets.draw_tab import DrawTab
from mnist_tui.app.widgets.file_tab import FileTab
from mnist_tui.app.widgets.path_input import PathInput
from mnist_tui.app.widgets.predict_tab import PredictTab
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.app.widgets.test_tab import TestTab
from mnist_tui.common.places import no_runs, runs_place
from mnist_tui.common.text import pct
from mnist_tui.engine.config import PRESETS
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.names import run_label
from mnist_tui.runfolder.status import SUCCESS

BIG_CANVAS = (120, 40)  # terminal size from which the canvas is drawn at twice the size
WIDE = 100  # below this many columns the footer is compact, so ? Help stays on it beside the canvas keys


class PredictScreen(Screen):
    TITLE = "Test predictions"
    AUTO_FOCUS = ""  # refresh_runs focuses the canvas, or nothing when there is no model to draw for
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "show_tab('draw')", "Draw", show=False),
        Binding("2", "show_tab('file')", "Image file", show=False),
        Binding("3", "show_tab('test')", "Test set", show=False),
        Binding("s", "switch_model", "Model"),
        Binding("t", "quick_train", "Quick training"),
        Binding("l", "inspect", "Layers"),
    ]

    @dataclass
    class ModelLoaded(Message):
        run_dir: Path
        model: object

    @dataclass
    class ModelFailed(Message):
        run_dir: Path
        reason: str

    # -------------------------------------------------- layout

    def __init__(self) -> None:
        super().__init__()
        self.choices: list[runs.RunInfo] = []
        self.run_dir: Path | None = None  # the run whose weights are loaded, or loading

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="predict-model"):
            yield Static("model", id="predict-model-label")
            # the model Select is mounted here by refresh_runs once there are runs: no blank "no runs" entry
            yield Static("", id="predict-model-info", markup=False)
        yield Static("", id="predict-empty", classes="hidden")
        with TabbedContent(id="predict-tabs"):
            with TabPane("1 Draw", id="draw"):
                yield DrawTab(classes="predict-body")
            with TabPane("2 Image file", id="file"):
                yield FileTab(classes="predict-body")
            with TabPane("3 Test set", id="test"):
                yield TestTab(classes="predict-body", id="test-pane")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_resize(self) -> None:
        width, height = BIG_CANVAS
        self.query_one(DigitCanvas).scale = 2 if self.size.width >= width and self.size.height >= height else 1
        self.query_one(SteadyFooter).compact = self.size.width < WIDE

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.refresh_runs()

    # -------------------------------------------------- model choice

    def refresh_runs(self) -> None:
        """List the runs with weights; load the default one if nothing is loaded yet."""
        self.choices = [r for r in runs.list_runs(self.app.runs_dir) if r.has_checkpoint and r.status in SUCCESS]
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
        acc = pct(info.test_acc) if info.test_acc is not None else info.status
        return Text(f"{run_label(info.model, info.augment)}  {acc}  {info.started}")

    def _load(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._hand_down(None)
        self.query_one("#predict-model-info", Static).update(f"loading {run_dir.name} ...")
        self.load_model(run_dir)

    def _hand_down(self, model) -> None:
        for tab in self.query(PredictTab):
            tab.model = model

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
        from mnist_tui.engine.config import make_config

        data_dir = str(self.app.data_dir) if self.app.data_dir else None
        config = make_config("3-layer", preset="fast", data_dir=data_dir, runs_dir=str(self.app.runs_dir))
        self.app.start_training([config])
        self.app.open_screen("dashboard")

    @work(thread=True, exclusive=True, group="predict-model")
    def load_model(self, run_dir: Path) -> None:
        from mnist_tui.runfolder.record import RunError
        from mnist_tui.training.inference import load_run  # imports torch: here, never on the UI thread

        try:
            run = load_run(run_dir)  # the model with the precision, TTA and normalisation its run was tested with
        except RunError as error:
            self.post_message(self.ModelFailed(run_dir, str(error)))
        except Exception as error:  # noqa: BLE001 - one line on screen, not a crash
            self.post_message(self.ModelFailed(run_dir, f"{type(error).__name__}: {error}"))
        else:
            self.post_message(self.ModelLoaded(run_dir, run))

    def on_predict_screen_model_loaded(self, message: ModelLoaded) -> None:
        if message.run_dir != self.run_dir:
            return
        info = next((r for r in self.choices if r.path == message.run_dir), None)
        acc = f"test {pct(info.test_acc)}" if info and info.test_acc is not None else ""
        params = f"{info.params:,} params" if info and info.params else ""
        self.query_one("#predict-model-info", Static).update("  ".join(x for x in (acc, params) if x))
        self.sub_title = message.run_dir.name
        self._hand_down(message.model)

    def on_predict_screen_model_failed(self, message: ModelFailed) -> None:
        if message.run_dir == self.run_dir:
            self.query_one("#predict-model-info", Static).update(f"✘ {message.reason}")
            self.notify(message.reason, title="Could not load the model", severity="error", markup=False)

    # -------------------------------------------------- tabs

    def action_show_tab(self, tab: str) -> None:
        if self.query_one("#predict-tabs").display:
            self.query_one(TabbedContent).active = tab

    @on(TabbedContent.TabActivated, "#predict-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Focus what the tab is driven with, so its keys work without a mouse."""
        if not self.choices:
            return  # the tabs are hidden until there is a model
        self._focus_tab()
        if event.pane.id == "test":
            self.query_one(TestTab).load(self.app.data_dir)
        self.refresh_bindings()

    def _focus_tab(self) -> None:
        tab = self.query_one(TabbedContent).active
        self.query_one({"draw": DigitCanvas, "file": PathInput, "test": TestTab}[tab]).focus()

    def action_inspect(self) -> None:
        """The Model screen for this run, with the canvas digit (the test digit on the Test set tab)."""
        if self.run_dir is None:
            self.notify("No model loaded yet.", severity="warning")
            return
        image = None
        if self.query_one(TabbedContent).active == "test":
            image = self.query_one(TestTab).current()
        if image is None:
            image = self.query_one(DrawTab).drawing()  # None: the Model screen takes a test digit
        self.app.open_screen("model", self.run_dir, image)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`t` shows only with no runs, `s` only with some."""
        if not self.is_mounted:
            return True
        if action == "quick_train":
            return not self.choices
        if action == "switch_model":
            return bool(self.choices)
        return True
