"""The fault table: bad files, crafted inputs and hostile environments, one row each. Every row ends in a
clear one-line error or a screen that still works, never a traceback or a crash."""

from __future__ import annotations

import os
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from screen import screen_text, wait_until

from mnist_tui.app.app import make_app
from mnist_tui.cli import main as cli
from mnist_tui.common import fileio
from mnist_tui.engine import data
from mnist_tui.engine.idx import decode_idx
from mnist_tui.engine.synthetic import write_synthetic

GLOO_REASON = "[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Connection closed by peer"


# ---------------------------------------------------------------- helpers


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in this process: its exit status, stdout and stderr (an uncaught exception fails the test)."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err: str, *words: str) -> None:
    err = "".join(line for line in err.splitlines(True) if not line.startswith("mnist-tui: using run "))  # a note
    assert err.count("\n") == 1 and err.startswith("mnist-tui: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def run_subprocess(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_tui", *map(str, args)], capture_output=True, text=True, timeout=240, **kwargs
    )


def write_run(runs_dir: Path, name: str, summary: dict | None = None, checkpoint: bool = True) -> Path:
    """A finished 1-layer run folder with untrained weights: enough to load, list and predict."""
    from mnist_tui.engine.models import build_model
    from mnist_tui.runfolder.checkpoint import save_checkpoint
    from mnist_tui.runfolder.record import write_json

    path = Path(runs_dir) / name
    path.mkdir(parents=True)
    model = build_model("1-layer")
    write_json(path / "config.json", {"model": "1-layer", "augment": False})
    write_json(
        path / "summary.json",
        summary
        or {"status": "finished", "model": "1-layer", "test_acc": 0.5, "val_acc": 0.5, "epochs_run": 1, "params": 1},
    )
    if checkpoint:
        save_checkpoint(
            path / "best.pt",
            "1-layer",
            {"channels": (32,), "dropout": 0.0},
            model.state_dict(),
            {},
            {},
            (0.1307, 0.3081),
        )
    return path


@pytest.fixture
def a_run(runs_dir) -> Path:
    return write_run(runs_dir, "20260101-000000_1-layer_acc50.00")


@pytest.fixture
def digit_png(tmp_path) -> Path:
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    path = tmp_path / "digit.png"
    Image.fromarray(image).save(path)
    return path


def big_png(path: Path, width: int, height: int) -> Path:
    """A valid grayscale PNG of any size, written without holding the pixels: zlib of blank rows is tiny."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte, then the row
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


# ---------------------------------------------------------------- markup from disk and from exceptions


async def test_runs_screen_shows_a_failure_reason_that_looks_like_markup(runs_dir, synthetic_dir):
    write_run(
        runs_dir,
        "20260101-000000_1-layer_failed",
        {"status": "failed", "model": "1-layer", "reason": GLOO_REASON},
        checkpoint=False,
    )
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: "Connection closed by peer" in screen_text(app))
        assert "[/__w/pytorch/third_party" in screen_text(app)
        await pilot.press("enter")  # the notification repeats the reason
        await wait_until(pilot, lambda: "Can't open this run" in screen_text(app))
        assert app.is_running


async def test_runs_screen_shows_a_model_name_that_looks_like_markup(runs_dir, synthetic_dir):
    write_run(
        runs_dir,
        "20260101-000000_1-layer_acc50.00",
        {"status": "finished", "model": "[/bold]x[link=y]", "test_acc": 0.5},
    )
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: "[/bold]x[link=y]" in screen_text(app))
        assert app.is_running


# ---------------------------------------------------------------- bad data files at start-up


def break_data(data_dir: Path, case: str) -> None:
    root = data.raw_dir(data_dir)
    if case == "directory-for-idx":
        (root / "train-images-idx3-ubyte").unlink()
        (root / "train-images-idx3-ubyte").mkdir()
    elif case == "synthetic-json-garbage":
        (root / data.SYNTHETIC_MANIFEST).write_text("{not json")
    elif case == "synthetic-json-list":
        (root / data.SYNTHETIC_MANIFEST).write_text("[1, 2]")
    elif case == "synthetic-json-no-md5":
        (root / data.SYNTHETIC_MANIFEST).write_text('{"note": "x"}')
    elif case == "synthetic-json-md5-list":
        (root / data.SYNTHETIC_MANIFEST).write_text('{"md5": [1]}')


BAD_DATA = [
    "directory-for-idx",
    "synthetic-json-garbage",
    "synthetic-json-list",
    "synthetic-json-no-md5",
    "synthetic-json-md5-list",
]


@pytest.fixture
def bad_data(tmp_path):
    def make(case: str) -> Path:
        folder = tmp_path / f"data-{case}"
        write_synthetic(folder, n_train=100, n_test=50)
        break_data(folder, case)
        return folder

    return make


@pytest.mark.parametrize("case", BAD_DATA)
async def test_menu_shows_a_status_line_for_bad_data(bad_data, runs_dir, case):
    app = make_app(runs_dir, bad_data(case))
    async with app.run_test(size=(120, 40)) as pilot:
        expected = "is a directory" if case == "directory-for-idx" else "SYNTHETIC.json"

        # The status line wraps, and folds the long temporary path wherever the width ends: undo both.
        def shown() -> bool:
            lines = [line.strip() for line in screen_text(app).splitlines()]
            return "✘" in screen_text(app) and (expected in " ".join(lines) or expected in "".join(lines))

        await wait_until(pilot, shown)
        assert "Checking MNIST" not in screen_text(app) and app.is_running


@pytest.mark.parametrize("case", BAD_DATA)
def test_data_info_gives_one_line_for_bad_data(bad_data, capsys, case):
    status, _, err = run_cli(capsys, "data", "info", "--data-dir", bad_data(case))
    assert status == 1
    one_line_error(err, "is a directory" if case == "directory-for-idx" else "SYNTHETIC.json")


@pytest.mark.slow
@pytest.mark.parametrize("case", ["directory-for-idx", "synthetic-json-garbage"])
def test_train_gives_one_line_for_bad_data(bad_data, runs_dir, capsys, case):
    status, out, err = run_cli(
        capsys,
        "train",
        "--model",
        "1-layer",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--data-dir",
        bad_data(case),
        "--runs-dir",
        runs_dir,
    )
    assert status == 1
    assert "Traceback" not in out + err
    assert err.count("\n") <= 1 or "failed:" in out, err


# ---------------------------------------------------------------- crafted checkpoints


def craft(run_dir: Path, case: str) -> None:
    import torch

    from mnist_tui.engine.models import build_model

    good = {
        "model_name": "1-layer",
        "model_args": {"channels": [32], "dropout": 0.0},
        "state_dict": build_model("1-layer").state_dict(),
        "normalization": {"mean": 0.1307, "std": 0.3081},
        "config": {},
        "metrics": {},
    }
    payload = {
        "a-list": [1, 2, 3],
        "no-state-dict": {k: v for k, v in good.items() if k != "state_dict"},
        "an-extra-model-argument": {**good, "model_args": {"channels": [32], "dropout": 0.0, "evil": 1}},
        "channels-minus-5": {**good, "model_args": {"channels": [-5], "dropout": 0.0}},
        "channels-200000": {
            **good,
            "model_name": "3-layer",
            "model_args": {"channels": [200000, 200000, 200000], "dropout": 0.0},
        },
        "channels-a-string": {**good, "model_args": {"channels": "abc", "dropout": 0.0}},
        "dropout-7": {**good, "model_args": {"channels": [32], "dropout": 7.0}},
        "model-name-a-list": {**good, "model_name": ["1-layer"]},
        "state-dict-of-numbers": {**good, "state_dict": {"features.0.weight": 1}},
    }[case]
    torch.save(payload, run_dir / "best.pt")


CRAFTED = [
    "a-list",
    "no-state-dict",
    "an-extra-model-argument",
    "channels-minus-5",
    "channels-200000",
    "channels-a-string",
    "dropout-7",
    "model-name-a-list",
    "state-dict-of-numbers",
]


@pytest.mark.parametrize("case", CRAFTED)
def test_predict_refuses_a_crafted_checkpoint_in_one_line(a_run, runs_dir, digit_png, capsys, case):
    craft(a_run, case)
    status, out, err = run_cli(capsys, "predict", digit_png, "--runs-dir", runs_dir)
    assert status == 1 and out == ""
    one_line_error(err, "best.pt")


@pytest.mark.parametrize("case", CRAFTED)
def test_evaluate_refuses_a_crafted_checkpoint_in_one_line(a_run, runs_dir, synthetic_dir, capsys, case):
    craft(a_run, case)
    status, _, err = run_cli(capsys, "evaluate", a_run.name, "--runs-dir", runs_dir, "--data-dir", synthetic_dir)
    assert status == 1
    one_line_error(err, "best.pt")


def test_model_args_are_checked_against_the_registry():
    from mnist_tui.engine.models import check_model_args

    assert check_model_args("1-layer", {"channels": [32], "dropout": 0.0}) == {"channels": (32,), "dropout": 0.0}
    assert check_model_args("ds-cnn-v1", {"c1": 16, "c2": 32}) == {"c1": 16, "c2": 32}
    assert check_model_args("vgg", {}) == {}
    for name, args in [
        ("vgg", {"width": 3}),
        ("1-layer", {"channels": [True]}),
        ("ds-cnn-v1", {"c1": 2.5}),
        ("ds-cnn-v1", {"c1": 10**9}),
        ("1-layer", {"channels": [32] * 50}),
        ("1-layer", {"dropout": float("nan")}),
    ]:
        with pytest.raises(ValueError):
            check_model_args(name, args)


# ---------------------------------------------------------------- a pickle payload in best.pt (passes on main)


class Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.fixture
def pickled_run(a_run, tmp_path, monkeypatch):
    import pickle

    monkeypatch.chdir(tmp_path)
    (a_run / "best.pt").write_bytes(pickle.dumps({"model_name": Payload()}))
    return a_run


def real_cli(*args) -> subprocess.CompletedProcess:
    """The command in a fresh interpreter, so its real stderr shows any warning torch would print
    (pytest records warnings in-process under filters of its own)."""
    command = [sys.executable, "-m", "mnist_tui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # trains or starts a process
def test_a_pickle_payload_in_best_pt_is_refused_by_predict(pickled_run, runs_dir, digit_png):
    done = real_cli("predict", digit_png, "--runs-dir", runs_dir)
    assert done.returncode == 1 and not Path("PWNED").exists()
    one_line_error(done.stderr, "not a readable checkpoint")  # and nothing else: no warning of torch's


@pytest.mark.slow  # trains or starts a process
def test_a_pickle_payload_in_best_pt_is_refused_by_evaluate(pickled_run, runs_dir, synthetic_dir):
    done = real_cli("evaluate", pickled_run.name, "--runs-dir", runs_dir, "--data-dir", synthetic_dir)
    assert done.returncode == 1 and not Path("PWNED").exists()
    one_line_error(done.stderr, "not a readable checkpoint")


@pytest.mark.slow
async def test_a_pickle_payload_in_best_pt_is_refused_by_the_predict_screen(pickled_run, runs_dir, synthetic_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("p")
        await wait_until(pilot, lambda: "not a readable checkpoint" in screen_text(app), 60)
        assert app.is_running and not Path("PWNED").exists()


# ---------------------------------------------------------------- images


def bad_image(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.png"
    if case == "truncated-png":
        good = tmp_path / "good.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(good)
        path.write_bytes(good.read_bytes()[:200])
    elif case == "not-an-image":
        path.write_text("hello, not a PNG\n")
    return path


@pytest.mark.parametrize("case,message", [("truncated-png", "truncated or corrupt"), ("not-an-image", "not an image")])
def test_predict_gives_one_line_for_a_bad_image(a_run, runs_dir, tmp_path, capsys, case, message):
    status, out, err = run_cli(capsys, "predict", bad_image(tmp_path, case), "--runs-dir", runs_dir)
    assert status == 1 and out == ""
    one_line_error(err, message)


@pytest.mark.slow
def test_a_huge_png_is_refused_before_decoding(a_run, runs_dir, tmp_path):
    """10000x10000 (about 100 KB on disk) once cost 2.5 GB and 12 s, and printed Pillow's raw warning."""
    path = big_png(tmp_path / "huge.png", 10000, 10000)
    assert path.stat().st_size < 200_000
    done = run_subprocess("predict", path, "--runs-dir", runs_dir)
    assert done.returncode == 1 and done.stdout == ""
    one_line_error(done.stderr, "too large")
    assert "DecompressionBomb" not in done.stderr


def test_a_huge_png_costs_little_memory(tmp_path):
    import resource

    from mnist_tui.analysis.preprocess import ImageError, load_image

    path = big_png(tmp_path / "huge.png", 10000, 10000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError, match="too large"):
        load_image(path)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000  # not the 100 MB + of the pixels


def test_a_large_jpeg_is_reduced_while_decoding(tmp_path):
    from mnist_tui.analysis.preprocess import MAX_PIXELS, load_image

    path = tmp_path / "photo.jpg"
    Image.new("L", (8000, 6000), 255).save(path, quality=50)  # 48 MP, a phone's full resolution
    image = load_image(path)
    assert image.size <= MAX_PIXELS and image.shape[1] / image.shape[0] == pytest.approx(8000 / 6000, rel=0.01)


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_train_rejects_a_non_finite_learning_rate(runs_dir, synthetic_dir, capsys, value):
    status, out, err = run_cli(
        capsys, "train", "--model", "1-layer", f"--lr={value}", "--data-dir", synthetic_dir, "--runs-dir", runs_dir
    )
    assert status == 1 and out == ""
    one_line_error(err, "finite")
    assert not any(runs_dir.iterdir())


@pytest.mark.parametrize("field", ["weight_decay", "label_smoothing", "gamma", "aug_strength", "ema_decay"])
def test_config_rejects_a_non_finite_field(field):
    from mnist_tui.engine.config import make_config

    with pytest.raises(ValueError, match="finite"):
        make_config("1-layer", **{field: float("inf")})


# ---------------------------------------------------------------- Runs screen: mark default, read-only


async def test_marking_a_default_run_in_a_read_only_runs_dir_shows_an_error(
    a_run, runs_dir, synthetic_dir, monkeypatch
):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(runs_dir))  # what mkstemp meets in a read-only folder

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("r")
        await wait_until(pilot, lambda: a_run.name in screen_text(app))
        await pilot.press("m")
        await wait_until(pilot, lambda: "Could not mark" in screen_text(app))
        assert app.is_running and "Permission denied" in screen_text(app)
    assert not (runs_dir / "DEFAULT").exists()


# ---------------------------------------------------------------- durability of write_atomic


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_write_atomic_respects_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        fileio.write_atomic(tmp_path / "file.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "file.json").stat().st_mode) == mode


def test_write_atomic_fsyncs_the_file_and_then_its_directory(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    fileio.write_atomic(tmp_path / "file.json", b"{}")
    assert synced == ["file", "dir"]
    assert (tmp_path / "file.json").read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]  # no temporary left behind


# ---------------------------------------------------------------- pipes


@pytest.mark.slow
def test_predict_json_into_a_closed_pipe_exits_quietly(a_run, runs_dir, digit_png):
    """`predict --json many.png | head -1`: the reader goes away; no BrokenPipeError is printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "predict", "--json", *[str(digit_png)] * 400, "--runs-dir", str(runs_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = process.stdout.readline()
    process.stdout.close()  # as head does after its line
    err = process.stderr.read().decode()
    process.wait(timeout=120)
    assert first.strip() == b"{"
    err = "".join(line for line in err.splitlines(True) if not line.startswith("mnist-tui: using run "))  # a note
    assert err == "", err
    assert process.returncode in (0, 1, 141)


# ---------------------------------------------------------------- data files (pass on main)


@pytest.mark.parametrize(
    "case,message",
    [
        ("truncated", "corrupted or truncated"),
        ("padded", "corrupted or truncated"),
        ("bad-magic", "corrupted or truncated"),
    ],
)
def test_a_corrupt_idx_file_gives_one_line(tmp_path, capsys, case, message):
    folder = tmp_path / "data"
    write_synthetic(folder, n_train=100, n_test=50)
    path = data.raw_dir(folder) / "t10k-labels-idx1-ubyte"
    blob = path.read_bytes()
    path.write_bytes({"truncated": blob[:20], "padded": blob + b"\0" * 7, "bad-magic": b"\1\2\3\4" + blob[4:]}[case])
    status, _, err = run_cli(capsys, "data", "info", "--data-dir", folder)
    assert status == 1
    one_line_error(err, message, "t10k-labels-idx1-ubyte")


def test_a_corrupt_idx_file_is_named_by_the_decoder():
    with pytest.raises(data.DataError, match="t10k"):
        decode_idx(b"\0\0\x08\x01\0\0\0\x09abc", "t10k-labels-idx1-ubyte")


@pytest.mark.slow
def test_fetch_without_a_network_gives_one_line(tmp_path):
    unreachable = "http://127.0.0.1:9"  # the discard port: refused at once
    env = {
        **os.environ,
        "http_proxy": unreachable,
        "https_proxy": unreachable,
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "no_proxy": "",
        "NO_PROXY": "",
        "PIP_INDEX_URL": unreachable + "/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_FIND_LINKS": "",
    }
    done = run_subprocess("data", "fetch", "--data-dir", tmp_path / "data", env=env)
    assert done.returncode == 1
    one_line_error(done.stderr, "could not fetch MNIST")
    assert "Traceback" not in done.stdout


# ---------------------------------------------------------------- run folders (pass on main)


def test_a_symlinked_run_folder_is_listed_and_used(tmp_path, runs_dir, digit_png, capsys):
    elsewhere = write_run(tmp_path / "elsewhere", "20260101-000000_1-layer_acc50.00")
    (runs_dir / elsewhere.name).symlink_to(elsewhere, target_is_directory=True)
    status, out, _ = run_cli(capsys, "runs", "--runs-dir", runs_dir)
    assert status == 0 and elsewhere.name in out
    status, out, err = run_cli(capsys, "predict", digit_png, "--runs-dir", runs_dir)
    assert status == 0 and out.startswith(f"{digit_png}: "), err


def test_a_dangling_symlink_in_the_runs_dir_is_skipped(tmp_path, a_run, runs_dir, capsys):
    (runs_dir / "20260101-000001_1-layer_acc60.00").symlink_to(tmp_path / "gone", target_is_directory=True)
    status, out, _ = run_cli(capsys, "runs", "--runs-dir", runs_dir)
    assert status == 0 and a_run.name in out and "acc60.00" not in out


def test_two_runs_started_in_the_same_second_get_distinct_folders(runs_dir, monkeypatch):
    import time

    from mnist_tui.runfolder.names import create_run_dir

    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101-120000")
    first, second = create_run_dir(runs_dir, "1-layer", False), create_run_dir(runs_dir, "1-layer", False)
    third = create_run_dir(runs_dir, "2-layer", True)
    assert len({first, second, third}) == 3 and all(p.is_dir() for p in (first, second, third))


# ---------------------------------------------------------------- evaluate on a run that has no test score


def _untested(folder: Path, case: str) -> Path:
    """The session's trained run made into a run that recorded no test accuracy, in one of several ways."""
    import json
    import socket
    import time

    from mnist_tui.runfolder import live
    from mnist_tui.runfolder.names import RUNNING_SUFFIX, stem
    from mnist_tui.runfolder.record import SUMMARY

    summary = folder / SUMMARY
    if case == "running":
        summary.unlink()
        folder = folder.rename(folder.with_name(stem(folder) + RUNNING_SUFFIX))
        live.write_live(folder, {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()})
    elif case in ("interrupted", "failed", "cancelled"):
        reason = {"interrupted": "stopped by SIGTERM", "failed": "RuntimeError: out of memory"}.get(case)
        record = json.loads(summary.read_text())
        summary.write_text(json.dumps({**record, "status": case, "reason": reason, "test_acc": None}))
    elif case == "unreadable":
        summary.write_text("{not json")
    return folder


@pytest.mark.parametrize(
    "case, words",
    [
        ("running", ["recorded no test accuracy", "still training", "best checkpoint so far"]),
        ("interrupted", ["recorded no test accuracy", "interrupted before its test pass", "stopped by SIGTERM"]),
        ("failed", ["recorded no test accuracy", "failed before its test pass", "out of memory"]),
        ("cancelled", ["recorded no test accuracy", "cancelled before its test pass"]),
        ("unreadable", ["summary.json cannot be read", "nothing to compare"]),
    ],
)
def test_evaluate_says_why_a_run_has_no_recorded_test_score(trained_runs_dir, synthetic_dir, capsys, case, words):
    (folder,) = trained_runs_dir.iterdir()
    folder = _untested(folder, case)
    status, out, err = run_cli(capsys, "evaluate", folder, "--runs-dir", trained_runs_dir, "--data-dir", synthetic_dir)
    assert status == 0, err
    (line,) = [line for line in out.splitlines() if "recorded" in line or "summary.json" in line]
    for word in words:
        assert word in line, line
    if case != "cancelled":
        assert "cancelled" not in line, line
