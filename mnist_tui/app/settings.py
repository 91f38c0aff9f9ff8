"""The user's remembered settings (the train form's last values): one small JSON file in the user config dir."""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_dir() -> Path:
    """`MNIST_TUI_CONFIG`, else the platform's user config dir (~/.config/mnist-tui on Linux)."""
    env = os.environ.get("MNIST_TUI_CONFIG")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("mnist-tui"))


def form_file() -> Path:
    return config_dir() / "train-form.json"


def load_form(path: Path | None = None) -> tuple[dict, str | None]:
    """(the saved values, or {}; a one-line notice when the file exists but cannot be used)."""
    path = path or form_file()
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {}, f"ignored the saved train settings in {path}: {error}"
    if not isinstance(values, dict):
        return {}, f"ignored the saved train settings in {path}: not a JSON object"
    return values, None


def save_form(values: dict, path: Path | None = None) -> None:
    """Written to a temporary file and renamed, so a crash never leaves half a file."""
    path = path or form_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
