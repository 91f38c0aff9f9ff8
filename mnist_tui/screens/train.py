"""Train form: model, recipe and device; Enter starts the run and opens the dashboard."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static, Switch

from ..config import PRESETS, TrainConfig, make_config
from ..models import REGISTRY, describe

NUMBER_FIELDS = [("epochs", "Epochs", "integer"), ("batch_size", "Batch size", "integer"),
                 ("lr", "Learning rate", "number"), ("patience", "Patience", "integer")]


class TrainScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("ctrl+s", "start", "Start")]

    def compose(self) -> ComposeResult:
        defaults = TrainConfig()
        models = [(f"{name}  ({describe(name).params:,} params)", name) for name in REGISTRY]
        yield Header()
        with VerticalScroll(id="train-form"):
            with Horizontal(classes="row"):
                yield Label("Preset")
                yield Select([("custom", "")] + [(name, name) for name in PRESETS], value="", allow_blank=False, id="preset")
            with Horizontal(classes="row"):
                yield Label("Model")
                yield Select(models, value=defaults.model, allow_blank=False, id="model")
            with Horizontal(classes="row"):
                yield Label("Augmentation")
                yield Switch(value=defaults.augment, id="augment")
            for field, label, kind in NUMBER_FIELDS:
                with Horizontal(classes="row"):
                    yield Label(label)
                    yield Input(str(getattr(defaults, field)), type=kind, id=field)
            with Horizontal(classes="row"):
                yield Label("Device")
                yield Select([(d, d) for d in ("auto", "cpu", "cuda", "mps")], value="auto", allow_blank=False, id="device")
            yield Static("", id="form-error")
            yield Button("Start training", variant="primary", id="start")
            yield Static("Enter in a field or ctrl+s starts; the dashboard follows the run live.", id="form-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#model", Select).focus()

    @on(Select.Changed, "#preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        if not event.value:
            return
        preset = make_config(None, str(event.value))
        self.query_one("#model", Select).value = preset.model
        self.query_one("#augment", Switch).value = preset.augment
        for field, _, _ in NUMBER_FIELDS:
            self.query_one(f"#{field}", Input).value = str(getattr(preset, field))

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def _submit(self, event) -> None:
        self.action_start()

    def read_config(self) -> TrainConfig:
        values = {}
        for field, label, kind in NUMBER_FIELDS:
            text = self.query_one(f"#{field}", Input).value.strip()
            try:
                values[field] = int(text) if kind == "integer" else float(text)
            except ValueError:
                raise ValueError(f"{label.lower()} must be a number, not {text!r}") from None
        preset = self.query_one("#preset", Select).value or None
        return make_config(
            str(self.query_one("#model", Select).value), preset,
            augment=self.query_one("#augment", Switch).value,
            device=str(self.query_one("#device", Select).value),
            data_dir=str(self.app.data_dir) if self.app.data_dir else None,
            runs_dir=str(self.app.runs_dir), **values,
        )

    def action_start(self) -> None:
        try:
            config = self.read_config()
        except (ValueError, KeyError) as error:
            self.query_one("#form-error", Static).update(Text(f"✘ {error}"))
            return
        self.app.start_training([config])
        self.app.switch_screen(self._dashboard())

    def _dashboard(self):
        from .dashboard import DashboardScreen

        return DashboardScreen()
