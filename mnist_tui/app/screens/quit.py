"""QuitScreen: asked when quitting with runs training: keep them training (the default), stop them, or stay."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitScreen(ModalScreen[str | None]):
    """Dismisses with "keep", "stop", or None to stay in the app."""

    BINDINGS = [
        Binding("k", "choose('keep')", "Keep training"),
        Binding("s", "choose('stop')", "Stop them"),
        Binding("escape", "choose(None)", "Stay"),
        Binding("left,right", "app.focus_next", "Switch", show=False),
    ]

    def __init__(self, live: int) -> None:
        super().__init__()
        self.live = live

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(
                f"{self.live} run(s) are training. Quit and keep them training in the background? "
                "Open mnist-tui again (or run `mnist-tui watch`) to follow them.",
                id="confirm-question",
            )
            with Horizontal(id="confirm-buttons"):
                yield Button("Keep training (k)", variant="primary", id="quit-keep")
                yield Button("Stop them (s)", variant="error", id="quit-stop")
                yield Button("Stay (esc)", id="quit-stay")

    def on_mount(self) -> None:
        self.query_one("#quit-keep", Button).focus()  # enter keeps them: quitting a viewer never loses a run

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"quit-keep": "keep", "quit-stop": "stop"}.get(event.button.id))

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
