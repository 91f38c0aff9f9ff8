"""Train form: model, recipe and device; Enter starts the run and opens the dashboard."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Select, Static, Switch
from textual.widgets.select import InvalidSelectValueError

from mnist_tui.app.settings import form_file, load_form, save_form
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.engine.config import PRESETS, TrainConfig, make_config
from mnist_tui.engine.models import REGISTRY, describe
from mnist_tui.engine.splits import split_size

# (field, label, kind, hint). Every field is typed as a "number" Input, so a "." stays visible and an
# integer field can reject 0.5 in words instead of silently reading it as 5.
NUMBER_FIELDS = [
    ("epochs", "Epochs", "integer", ""),
    ("batch_size", "Batch size", "integer", ""),
    ("lr", "Learning rate", "number", ""),
    ("patience", "Patience", "integer", "epochs; 0: off"),
    ("train_subset", "Train images", "integer", "0: all {size:,}"),
]
SELECTS = ("preset", "model", "device")


def fits(value: object, kind: str) -> bool:
    """Whether a saved value can go in a number field of this kind ("integer" or "number")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        (int if kind == "integer" else float)(str(value).strip())
    except ValueError:
        return False
    return True


class TrainScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("ctrl+s", "start", "Start")]

    def compose(self) -> ComposeResult:
        defaults = TrainConfig()
        models = [(f"{name}  ({describe(name).params:,} params)", name) for name in REGISTRY]
        yield Header()
        with VerticalScroll(id="train-form"):
            with Horizontal(classes="row"):
                yield Label("Preset")
                yield Select(
                    [("custom", "")] + [(name, name) for name in PRESETS], value="", allow_blank=False, id="preset"
                )
            with Horizontal(classes="row"):
                yield Label("Model")
                yield Select(models, value=defaults.model, allow_blank=False, id="model")
            with Horizontal(classes="row"):
                yield Label("Augmentation", id="augment-label")
                yield Switch(value=defaults.augment, id="augment", tooltip="rotate, shift and zoom each training image")
                yield Static(self._augment_words(defaults.augment), id="augment-state", classes="field-hint")
            size = split_size(self.app.data_dir)  # the label file's header, read once for the form
            for field, label, _, hint in NUMBER_FIELDS:
                with Horizontal(classes="row"):
                    yield Label(label)
                    yield Input(str(getattr(defaults, field)), type="number", id=field)
                    yield Static(hint.format(size=size), id=f"{field}-hint", classes="field-hint")
            with Horizontal(classes="row"):
                yield Label("Device")
                yield Select(
                    [(d, d) for d in ("auto", "cpu", "cuda", "mps")], value="auto", allow_blank=False, id="device"
                )
            yield Static("", id="form-error", markup=False)
            yield Button("Start training", variant="primary", id="start")
            yield Static(
                "Enter in a field or ctrl+s starts; the dashboard follows the run live.\n"
                "The form remembers these settings for next time.",
                id="form-hint",
            )
        yield SteadyFooter()

    def on_mount(self) -> None:
        self._restore()
        self.query_one("#model", Select).focus()

    # -------------------------------------------------- remembered settings

    def _restore(self) -> None:
        """Fill the form from the saved file; a value that does not fit its field is dropped, and said so."""
        saved, notice = load_form()
        dropped = []
        with self.prevent(Select.Changed):
            for name in SELECTS:
                if name not in saved:
                    continue
                try:
                    if not isinstance(saved[name], str):
                        raise InvalidSelectValueError(name)
                    self.query_one(f"#{name}", Select).value = saved[name]
                except InvalidSelectValueError:  # a model or preset that no longer exists
                    dropped.append(name)
        if "augment" in saved:
            if isinstance(saved["augment"], bool):
                self.query_one("#augment", Switch).value = saved["augment"]
            else:
                dropped.append("augment")
        for field, _, kind, _ in NUMBER_FIELDS:
            if field in saved:
                if fits(saved[field], kind):
                    self.query_one(f"#{field}", Input).value = str(saved[field])
                else:
                    dropped.append(field)
        if dropped and not notice:
            notice = (
                f"ignored {', '.join(dropped)} in the saved train settings ({form_file()}): not a value the form takes"
            )
        if notice:
            self.notify(notice, title="Train settings", severity="warning", markup=False)
        self._show_epoch_fraction()

    def _remember(self) -> None:
        values = {name: str(self.query_one(f"#{name}", Select).value) for name in SELECTS}
        values["augment"] = self.query_one("#augment", Switch).value
        values.update({field: self.query_one(f"#{field}", Input).value.strip() for field, *_ in NUMBER_FIELDS})
        try:
            save_form(values)
        except OSError as error:
            self.notify(
                f"could not remember the settings: {error}", title="Train settings", severity="warning", markup=False
            )

    # -------------------------------------------------- what the form shows

    @staticmethod
    def _augment_words(on: bool) -> str:
        return "on: rotate, shift and zoom each image" if on else "off"

    @on(Switch.Changed, "#augment")
    def _augment_changed(self, event: Switch.Changed) -> None:
        self.query_one("#augment-state", Static).update(self._augment_words(event.value))

    def _show_epoch_fraction(self) -> None:
        """A preset may train on part of the training set each epoch (fast: 0.6): say so beside Epochs."""
        preset = self.query_one("#preset", Select).value
        fraction = PRESETS.get(str(preset), {}).get("epoch_fraction", 1.0) if preset else 1.0
        hint = f"each one {fraction:g} of an epoch ({fraction:.0%} of the images)" if fraction < 1 else ""
        self.query_one("#epochs-hint", Static).update(hint)

    @on(Select.Changed, "#preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        self._show_epoch_fraction()
        if not event.value:
            return
        preset = make_config(None, str(event.value))
        self.query_one("#model", Select).value = preset.model
        self.query_one("#augment", Switch).value = preset.augment
        for field, *_ in NUMBER_FIELDS:
            self.query_one(f"#{field}", Input).value = str(getattr(preset, field))

    # -------------------------------------------------- starting

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def _submit(self, event) -> None:
        self.action_start()

    def read_config(self) -> TrainConfig:
        values = {}
        for field, label, kind, _ in NUMBER_FIELDS:
            text = self.query_one(f"#{field}", Input).value.strip()
            try:
                values[field] = int(text) if kind == "integer" else float(text)
            except ValueError:
                what = "a whole number" if kind == "integer" else "a number"
                raise ValueError(f"{label.lower()} must be {what}, not {text!r}") from None
        preset = self.query_one("#preset", Select).value or None
        return make_config(
            str(self.query_one("#model", Select).value),
            preset,
            augment=self.query_one("#augment", Switch).value,
            device=str(self.query_one("#device", Select).value),
            data_dir=str(self.app.data_dir) if self.app.data_dir else None,
            runs_dir=str(self.app.runs_dir),
            **values,
        )

    def action_start(self) -> None:
        from mnist_tui.engine.idx import DataError
        from mnist_tui.engine.splits import check_train_subset

        try:
            config = self.read_config()
            check_train_subset(config.train_subset, config.data_dir or None)  # before a run folder is made
        except (ValueError, KeyError, DataError) as error:
            self.query_one("#form-error", Static).update(Text(f"✘ {error}"))
            return
        self._remember()
        self.app.start_training([config])
        self.app.switch_screen(self._dashboard())

    def _dashboard(self):
        from mnist_tui.app.screens.dashboard import DashboardScreen

        return DashboardScreen()
