"""A Footer that is rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class SteadyFooter(Footer):
    """Textual's Footer rebuilds itself (mounts and styles a widget per key) on every focus change and every
    visit, even when its keys are the same: that was about half of a screen change (to Runs, or back to the
    menu). This one rebuilds only when the keys it shows change."""

    _keys_shown: tuple | None = None

    @staticmethod
    def _keys(screen: Screen) -> tuple:
        return tuple(
            (key, binding.description, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
            if binding.show
        )

    def compose(self) -> ComposeResult:
        self._keys_shown = self._keys(self.screen) if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if self._keys_shown is not None and self._keys(screen) == self._keys_shown:
            return
        super().bindings_changed(screen)
