"""ONNX export: one file, normalisation (and TTA) inside, metadata, dynamic batch, checked by onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_tui.analysis import export
from mnist_tui.cli.main import main
from mnist_tui.common.fileio import read_json
from mnist_tui.engine.splits import load_splits
from mnist_tui.training.train import fit

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.mark.slow
@pytest.mark.parametrize("tta", [False, True], ids=["plain", "tta"])
def test_export_agrees_with_pytorch_on_synthetic_data(tiny_config, synthetic_dir, tmp_path, tta, capsys):
    import onnx

    result = fit(tiny_config(epochs=1, tta=tta))
    out = tmp_path / "digits.onnx"
    assert main(["export", str(result.run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "argmax agrees on 200 (100.00%)" in printed and "largest absolute logit difference" in printed
    assert not list(tmp_path.glob("*.data"))  # no external weights: one self-contained file

    proto = onnx.load(str(out))
    props = {p.key: p.value for p in proto.metadata_props}
    recorded = read_json(result.run_dir / "summary.json")["test_acc"]
    assert props["run"] == result.run_dir.name and props["test_accuracy"] == f"{recorded:.4f}"
    assert props["labels"] == "0,1,2,3,4,5,6,7,8,9" and "[0, 1]" in props["input"]
    assert [i.name for i in proto.graph.input] == ["image"] and [o.name for o in proto.graph.output] == ["logits"]

    test = load_splits(str(synthetic_dir))
    for n in (1, 3):  # any batch size
        logits = export.onnx_run(out, test.test_x[:n].numpy())
        assert logits.shape == (n, 10) and logits.dtype == np.float32
    # with TTA inside the graph, the file scores what the run recorded (here in fp32, as it trained)
    accuracy = (export.onnx_run(out, test.test_x.numpy()).argmax(1) == test.test_y.numpy()).mean()
    assert accuracy == pytest.approx(recorded, abs=1 / len(test.test_y))


def test_export_says_how_to_install_what_is_missing(monkeypatch, capsys, runs_dir):
    monkeypatch.setattr(export, "missing_packages", lambda: ["onnxruntime"])
    assert main(["export", "anything", "--runs-dir", str(runs_dir)]) == 1
    err = capsys.readouterr().err
    assert "export needs onnxruntime" in err and "pip install 'mnist-tui[export]'" in err


def test_export_of_an_unknown_run_is_one_line(capsys, runs_dir):
    assert main(["export", "nope", "--runs-dir", str(runs_dir)]) == 1
    assert capsys.readouterr().err.startswith("mnist-tui: error: no run named 'nope'")
