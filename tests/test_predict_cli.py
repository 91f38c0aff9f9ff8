"""`mnist-tui predict`: model choice, one line or JSON per image, and one clear line per bad file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_tui.analysis.predict import choose_run, load_model, predict_files, predict_probs
from mnist_tui.analysis.preprocess import load_image, preprocess
from mnist_tui.cli import main as cli
from mnist_tui.engine import data


@pytest.fixture
def runs(trained_runs_dir):
    """A runs folder holding one finished 1-layer run (the session's, copied)."""
    return trained_runs_dir


@pytest.fixture(scope="module")
def images(synthetic_dir, tmp_path_factory):
    """Three test images saved as dark-on-light PNGs of different sizes."""
    folder = tmp_path_factory.mktemp("images")
    arrays = data.load_arrays(synthetic_dir)
    paths = []
    for i, size in enumerate((28, 64, 200)):
        path = folder / f"digit{i}.png"
        Image.fromarray(255 - arrays.test_images[i]).resize((size, size), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


def bad_file(tmp_path, case: str):
    path = tmp_path / f"{case}.png"
    if case == "not-an-image":
        path.write_text("just text\n")
    elif case == "truncated":
        full = tmp_path / "full.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(full)
        path.write_bytes(full.read_bytes()[:300])
    elif case == "directory":
        path.mkdir()
    elif case == "blank":
        Image.new("L", (50, 50), 255).save(path)
    return path  # "missing": never created


USING = "mnist-tui: using run "  # without --run, the first stderr line names the run used


def run_cli(capsys, *args, keep_using: bool = False) -> tuple[int, str, str]:
    """(status, stdout, stderr), stderr without the "using run" line unless `keep_using`."""
    status = cli.main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    if not keep_using:
        err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith(USING))
    return status, out, err


def test_one_line_per_image_with_the_top_k(runs, images, capsys):
    status, out, err = run_cli(capsys, *images, "--runs-dir", runs, "--top", 3, keep_using=True)
    # without --run, it names the run it used, on stderr, so stdout stays one line per image
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    assert status == 0 and err.startswith(f"{USING}{run.resolve()} (the best test accuracy, ") and err.count("\n") == 1
    lines = out.splitlines()
    assert len(lines) == 3
    for path, line in zip(images, lines):
        head, *rest = line.split("  ")
        assert head.startswith(f"{path}: ") and head.endswith("%)")
        assert len(rest) == 2 and all(part.endswith("%") for part in rest)


def test_json_has_all_ten_probabilities_matching_the_library(runs, images, capsys):
    status, out, _ = run_cli(capsys, *images, "--runs-dir", runs, "--json", "--top", 2)
    assert status == 0
    payload = json.loads(out)
    assert payload["model"] == "1-layer" and payload["run"] == str(choose_run(runs))
    loaded = load_model(runs)
    expected = predict_probs(loaded.model, np.stack([preprocess(load_image(p)) for p in images]))
    for path, result, probs in zip(images, payload["results"], expected):
        assert result["path"] == str(path)
        assert len(result["probs"]) == 10 and sum(result["probs"]) == pytest.approx(1, abs=1e-4)
        np.testing.assert_allclose(result["probs"], probs, atol=1e-5)
        assert result["prediction"] == int(probs.argmax()) == result["top"][0]["digit"]
        assert len(result["top"]) == 2


@pytest.mark.parametrize(
    "case, message",
    [
        ("not-an-image", "not an image"),
        ("truncated", "truncated or corrupt"),
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("blank", "blank image"),
    ],
)
def test_a_bad_file_gets_one_line_and_the_others_are_still_predicted(runs, images, tmp_path, capsys, case, message):
    bad = bad_file(tmp_path, case)
    status, out, err = run_cli(capsys, images[0], bad, images[1], "--runs-dir", runs)
    assert status == 1
    assert err.splitlines() == [err.strip()], err  # exactly one line, no traceback
    assert err.startswith(f"mnist-tui: error: {bad}: ") and message in err
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(images[0]), str(images[1])]


def test_all_bad_cases_at_once_give_one_line_each_in_json_too(runs, images, tmp_path, capsys):
    bad = [bad_file(tmp_path, case) for case in ("not-an-image", "truncated", "missing", "directory")]
    status, out, err = run_cli(capsys, *bad, images[2], "--runs-dir", runs, "--json")
    assert status == 1
    assert len(err.splitlines()) == 4
    results = json.loads(out)["results"]
    assert [("error" in r) for r in results] == [True, True, True, True, False]
    assert results[-1]["prediction"] in range(10)


def test_no_runs_tells_the_user_to_train_first(tmp_path, images, capsys):
    status, out, err = run_cli(capsys, images[0], "--runs-dir", tmp_path / "nothing-here")
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1 and "mnist-tui train" in err


def test_run_can_be_chosen_by_folder(runs, images, capsys):
    run_dir = choose_run(runs)
    status, out, _ = run_cli(capsys, images[0], "--run", run_dir, "--top", 1)
    assert status == 0 and out.count("%") == 1


def test_top_must_be_one_to_ten(runs, images, capsys):
    status, _, err = run_cli(capsys, images[0], "--runs-dir", runs, "--top", 11)
    assert status == 1 and "--top" in err


def test_predict_files_keeps_the_order_and_the_preprocessed_input(runs, images, tmp_path):
    loaded = load_model(runs)
    results = predict_files(loaded.model, [images[0], tmp_path / "missing.png", images[1]])
    assert [r.error is None for r in results] == [True, False, True]
    assert results[0].image.shape == (28, 28) and results[0].probs.shape == (10,)


def test_cli_help_does_not_import_torch():
    code = "import sys; from mnist_tui.cli import main as cli; cli.build_parser(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_predict_without_runs_names_the_absolute_folder(tmp_path, monkeypatch, capsys):
    from mnist_tui.cli.main import main

    monkeypatch.chdir(tmp_path)
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    assert main(["predict", str(image), "--runs-dir", "runs"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "runs") in err and "--runs-dir" in err and "MNIST_TUI_RUNS" in err


def test_a_default_naming_a_deleted_run_is_reported_and_cleared(runs, images, capsys):
    (runs / "DEFAULT").write_text("20991231-000000_3-layer_gone\n")
    try:
        status, out, err = run_cli(capsys, images[0], "--runs-dir", runs)
        assert status == 0 and "DEFAULT named 20991231-000000_3-layer_gone, which no longer exists; cleared it" in err
        assert not (runs / "DEFAULT").exists()
    finally:
        (runs / "DEFAULT").unlink(missing_ok=True)
