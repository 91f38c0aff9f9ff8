"""PathInput: an Input for a file path that suggests the rest of a folder or image name as you type."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_ENTRIES = 2000  # a huge folder is not listed in full on every key press


class PathSuggester(Suggester):
    """Completes the last part of a path from what is on disk: folders (with a trailing /) and images first."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        head, sep, stem = value.rpartition(os.sep)
        folder = Path(os.path.expanduser(head + sep)) if sep else Path(".")
        try:
            entries = []
            with os.scandir(folder) as scan:
                for n, entry in enumerate(scan):
                    if n >= MAX_ENTRIES:
                        break
                    if (
                        entry.name.startswith(stem)
                        and entry.name != stem
                        and (stem.startswith(".") or not entry.name.startswith("."))
                    ):
                        entries.append(entry)
        except OSError:
            return None

        def rank(entry) -> tuple[int, str]:
            is_dir = entry.is_dir()
            is_image = Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
            return (0 if is_dir else 1 if is_image else 2, entry.name)

        if not entries:
            return None
        best = min(entries, key=rank)
        prefix = value[: len(value) - len(stem)]
        return prefix + best.name + (os.sep if best.is_dir() else "")


class PathInput(Input):
    """An Input with path completion: the suggestion shows greyed out, and → accepts it."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("placeholder", "path to a PNG or JPEG image; → completes, enter predicts")
        super().__init__(suggester=PathSuggester(), **kwargs)
