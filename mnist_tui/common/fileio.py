"""Small file helpers shared by the core: atomic writes and size-capped JSON reads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

MAX_JSON_BYTES = 4 * 1024 * 1024  # a run's JSON files are a few KB; anything this big is not ours


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, parents: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file.

    The file gets the permissions a plain open() would give (mkstemp makes 0600, which breaks a
    folder shared between users), and the directory is synced so the rename survives a crash.
    With `parents=False` a missing folder is FileNotFoundError: a training run never recreates its
    run folder after someone deleted it."""
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def load_json_object(path: Path, max_bytes: int = MAX_JSON_BYTES) -> dict:
    """A JSON object from disk; raises ValueError with a short reason for anything else.

    A missing file is FileNotFoundError (an OSError), so callers can tell "absent" from "bad"."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path.name} is {size:,} bytes, more than a run file can be")
    try:
        value = json.loads(path.read_bytes())
    except RecursionError:
        raise ValueError(f"{path.name} is nested too deeply") from None
    except ValueError as error:
        raise ValueError(f"{path.name} is not valid JSON ({error.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} holds a {type(value).__name__}, not an object")
    return value


def read_json(path: Path) -> dict:
    """A JSON object from disk, or {} when the file is missing, unreadable, too big or not an object."""
    try:
        return load_json_object(path)
    except (OSError, ValueError):
        return {}
