"""MNIST on disk: IDX files, checksums, offline-first fetching, and in-memory splits."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_tui.engine.idx import DataError, decode_idx

# Official uncompressed files and their md5 (yann.lecun.com / torchvision).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FILES = tuple(OFFICIAL_MD5)
# A manifest that marks a folder as synthetic test data with its own checksums.
SYNTHETIC_MANIFEST = "SYNTHETIC.json"


def default_data_dir() -> Path:
    """`MNIST_TUI_DATA`, else the user cache dir."""
    env = os.environ.get("MNIST_TUI_DATA")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mnist-tui")) / "data"


def fetch_command(data_dir: Path | str | None) -> str:
    """The command that fetches MNIST into `data_dir`: the plain one for the default folder, else with --data-dir."""
    given = Path(data_dir).expanduser() if data_dir else default_data_dir()
    try:
        default = given.resolve() == default_data_dir().resolve()
    except (OSError, RuntimeError):
        default = False
    return "`mnist-tui data fetch`" if default else f"`mnist-tui data fetch --data-dir {shlex.quote(str(given))}`"


def raw_dir(data_dir: Path | str) -> Path:
    """torchvision's layout, so `datasets.MNIST(root, download=False)` reads the same files."""
    return Path(data_dir) / "MNIST" / "raw"


# ---------------------------------------------------------------- IDX format


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class FileCheck:
    name: str
    path: Path
    expected_md5: str
    actual_md5: str | None  # None when the file is missing

    @property
    def ok(self) -> bool:
        return self.actual_md5 == self.expected_md5

    @property
    def problem(self) -> str | None:
        if self.actual_md5 is None:
            return f"{self.name} is missing from {self.path.parent}"
        if not self.ok:
            return (
                f"{self.name} is corrupted or truncated (md5 {self.actual_md5}, expected "
                f"{self.expected_md5}); delete {self.path} and run {fetch_command(self.path.parent.parent.parent)}"
            )
        return None


def expected_checksums(data_dir: Path | str) -> dict[str, str]:
    """Official md5s, or those of a synthetic test set written by `write_synthetic`."""
    manifest = raw_dir(data_dir) / SYNTHETIC_MANIFEST
    if not manifest.exists():
        return dict(OFFICIAL_MD5)
    try:
        md5 = json.loads(manifest.read_text())["md5"]
        if not all(isinstance(md5.get(name), str) for name in FILES):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise DataError(
            f'{manifest} is malformed (it should hold {{"md5": {{file: checksum}}}}); '
            f"delete it and the IDX files beside it, then run {fetch_command(data_dir)}"
        ) from None
    return md5


def is_synthetic(data_dir: Path | str) -> bool:
    return (raw_dir(data_dir) / SYNTHETIC_MANIFEST).exists()


def check_files(data_dir: Path | str) -> list[FileCheck]:
    expected = expected_checksums(data_dir)
    checks = []
    for name in FILES:
        path = raw_dir(data_dir) / name
        if path.exists() and not path.is_file():
            kind = "a directory" if path.is_dir() else "not a regular file"
            raise DataError(f"{path} is {kind}, not an MNIST file; remove it, then run {fetch_command(data_dir)}")
        try:
            actual = md5_file(path) if path.exists() else None
        except OSError as error:
            raise DataError(f"cannot read {path}: {error.strerror or error}") from None
        checks.append(FileCheck(name, path, expected[name], actual))
    return checks


def data_status(data_dir: Path | str) -> tuple[bool, str]:
    """(ready, one line for a status bar)."""
    try:
        checks = check_files(data_dir)
    except DataError as error:
        return False, str(error)
    problems = [c.problem for c in checks if c.problem]
    if not problems:
        kind = "synthetic test data" if is_synthetic(data_dir) else "MNIST"
        return True, f"{kind} present and verified ({raw_dir(data_dir)})"
    if all(c.actual_md5 is None for c in checks):
        return False, f"MNIST not downloaded yet ({raw_dir(data_dir)})"
    return False, problems[0]


# ---------------------------------------------------------------- fetching


# ---------------------------------------------------------------- synthetic data for tests


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class MnistArrays:
    """The whole data set in memory as uint8: images (n, 28, 28), labels (n,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    synthetic: bool = False


_CACHE: dict[tuple, MnistArrays] = {}


def load_arrays(data_dir: Path | str | None = None, verify: bool = True) -> MnistArrays:
    """Read the four verified IDX files once per process."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    root = raw_dir(data_dir)
    stamps = tuple((root / name).stat().st_mtime_ns if (root / name).exists() else 0 for name in FILES)
    key = (str(root.resolve()), stamps)
    if key in _CACHE:
        return _CACHE[key]
    if verify:
        for check in check_files(data_dir):
            if check.problem:
                hint = "" if check.actual_md5 is not None else f"; run {fetch_command(data_dir)}"
                raise DataError(check.problem + hint)
    arrays = {name: decode_idx((root / name).read_bytes(), name) for name in FILES}
    result = MnistArrays(
        arrays["train-images-idx3-ubyte"],
        arrays["train-labels-idx1-ubyte"],
        arrays["t10k-images-idx3-ubyte"],
        arrays["t10k-labels-idx1-ubyte"],
        synthetic=is_synthetic(data_dir),
    )
    if len(result.train_images) != len(result.train_labels) or len(result.test_images) != len(result.test_labels):
        raise DataError("image and label files disagree on the number of samples")
    _CACHE.clear()
    _CACHE[key] = result
    return result


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=10).tolist()
