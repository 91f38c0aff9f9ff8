"""ProbabilityBars: the ten class probabilities as horizontal bars, the top class marked."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """A bar `width` cells long filled to `fraction`, in eighths of a cell."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text.ljust(width)


class ProbabilityBars(Widget):
    """Shows the `probs` (10,) it is handed; `label`, when set, marks the true class."""

    DEFAULT_CSS = """
    ProbabilityBars { width: 1fr; height: 10; min-width: 20; }
    """

    COMPONENT_CLASSES = {"probabilities--bar", "probabilities--top", "probabilities--label"}

    probs: reactive[np.ndarray | None] = reactive(None, always_update=True)
    label: reactive[int | None] = reactive(None)

    def render(self) -> Text:
        width = max(4, self.size.width - 18)  # "7 " + bar + " 100.0% ◀ true"
        bar_style = self.get_component_rich_style("probabilities--bar")
        top_style = self.get_component_rich_style("probabilities--top")
        label_style = self.get_component_rich_style("probabilities--label")
        text = Text(no_wrap=True, overflow="crop")
        probs = self.probs
        top = int(np.argmax(probs)) if probs is not None else None
        for digit in range(10):
            p = float(probs[digit]) if probs is not None else 0.0
            is_top = digit == top
            text.append(f"{digit} ", top_style if is_top else label_style)
            text.append(bar(p, width), top_style if is_top else bar_style)
            text.append(f" {p * 100:5.1f}%" if probs is not None else "     -", top_style if is_top else "")
            text.append(" ◀" if is_top else "  ", top_style)
            if self.label == digit:
                text.append(" true", label_style)
            if digit < 9:
                text.append("\n")
        return text
