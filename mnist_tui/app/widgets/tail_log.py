"""A Log that keeps showing its newest lines once it has started dropping its oldest."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import Log


class TailLog(Log):
    """Textual's `Log(max_lines=...)` repaints only the lines it writes. Once it is full and prunes, the
    scroll offset stays at the end while the lines under it shift up, so the screen kept the old rows: the
    dashboard's epoch log froze at epoch 500 while the run went on. Repaint the view whenever it is full."""

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> TailLog:
        super().write_lines(lines, scroll_end)
        if self.max_lines is not None and self.line_count >= self.max_lines:
            self.refresh()
        return self
