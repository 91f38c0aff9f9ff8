"""Read what a Textual app shows: the screen as plain text lines, from its SVG screenshot."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable

_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="[\d.]+"[^>]*>(.*?)</text>')
CELL_WIDTH = 12.2  # Textual's SVG cell width


def screen_lines(app) -> list[str]:
    """The visible screen as a list of text lines (what a person would read)."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[int, str]]] = {}
    for x, y, text in _TEXT.findall(svg):
        rows.setdefault(float(y), []).append((round(float(x) / CELL_WIDTH), html.unescape(text).replace("\xa0", " ")))
    lines = []
    for y in sorted(rows):
        line = ""
        for col, text in sorted(rows[y]):
            line = line.ljust(col) + text
        lines.append(line.rstrip())
    return lines


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


async def settle_screen(pilot, tries: int = 30) -> str:
    """Wait for the workers, then until two looks in a row agree, so a loaded machine's late layout pass
    cannot reach a snapshot half done. Returns the settled screen; fails with the screen if it never settles."""
    previous = None
    for _ in range(tries):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.15)
        text = screen_text(pilot.app)
        if text == previous:
            return text
        previous = text
    raise AssertionError(f"the screen did not settle after {tries} looks; last was:\n{previous}")


async def wait_until(
    pilot,
    condition: Callable[[], bool],
    timeout: float = 30,
    step: float = 0.1,
    context: Callable[[], str] = lambda: "",
) -> None:
    """Pause until `condition()` holds; past `timeout` seconds, fail with `context()` and the screen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting{context()}\nscreen was:\n{screen_text(pilot.app)}")
        await pilot.pause(step)
