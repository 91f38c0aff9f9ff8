"""The model inspector: totals against the registry, MACs by hand, activation memory, the CLI and its JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_tui.analysis.inspect import feature_maps, first_conv_filters, inspect_model, inspect_target
from mnist_tui.cli.main import main
from mnist_tui.engine.models import REGISTRY, build_model, describe
from mnist_tui.runfolder.checkpoint import save_checkpoint
from mnist_tui.runfolder.record import CHECKPOINT


@pytest.mark.parametrize("name", list(REGISTRY))
def test_totals_match_the_registry(name):
    inspection = inspect_target(name)
    assert inspection.total_params == describe(name).params
    assert inspection.total_macs > 0
    assert inspection.layers[-1].output_shape in ((10,),)


def test_three_layer_macs_by_hand():
    layers = {layer.name: layer for layer in inspect_target("3-layer").layers}
    assert layers["features.0"].macs == 28 * 28 * 32 * 9 == 225_792
    assert layers["features.4"].macs == 14 * 14 * 64 * 32 * 9
    assert layers["features.8"].macs == 7 * 7 * 128 * 64 * 9
    assert layers["classifier.2"].macs == 128 * 3 * 3 * 10
    assert layers["features.0"].output_shape == (32, 28, 28)
    assert layers["features.10"].output_shape == (128, 3, 3)


def test_convnet_and_compact_macs_by_hand():
    convnet = {layer.name: layer for layer in inspect_target("convnet").layers}
    assert convnet["features.0"].macs == 30 * 30 * 16 * 9  # padding 2: 28 -> 30
    assert convnet["features.4"].macs == 17 * 17 * 32 * 16 * 9  # 15 -> 17
    assert convnet["classifier.1"].macs == 32 * 8 * 8 * 10
    compact = {layer.name: layer for layer in inspect_target("compact").layers}
    assert compact["features.0"].macs == 26 * 26 * 10 * 9
    assert compact["features.7"].macs == 12 * 12 * 10 * 16  # the 1x1 transition
    assert compact["features.20"].macs == 10 * 14  # the 1x1 head on the pooled 14 channels


def test_activation_memory_is_measured_per_image_and_per_batch():
    inspection = inspect_model(build_model("1-layer"), "1-layer", batch_size=64)
    conv = inspection.layers[0]
    assert conv.activation_bytes == 32 * 28 * 28 * 4
    assert conv.batch_activation_bytes == 64 * conv.activation_bytes
    flatten = next(layer for layer in inspection.layers if layer.type == "Flatten")
    assert flatten.activation_bytes == 0  # a view takes no new memory


def test_cli_json_has_the_issue_keys(capsys):
    assert main(["inspect", "3-layer", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"model", "layers", "total_params", "total_macs"}
    assert set(payload["layers"][0]) == {"name", "type", "output_shape", "params", "macs", "activation_bytes"}
    assert payload["layers"][0]["macs"] == 225_792
    assert payload["total_params"] == describe("3-layer").params == 104_426


def test_cli_table_and_bad_name(capsys, runs_dir):
    assert main(["inspect", "1-layer"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and f"{describe('1-layer').params:,}" in out
    assert main(["inspect", "nope", "--runs-dir", str(runs_dir)]) == 1
    assert "no model or run named 'nope'" in capsys.readouterr().err


def test_inspect_a_run_uses_its_weights_and_batch(runs_dir):
    model = build_model("1-layer")
    run_dir = runs_dir / "20260101-000000_1-layer_acc50.00"
    run_dir.mkdir()
    save_checkpoint(
        run_dir / CHECKPOINT,
        "1-layer",
        REGISTRY["1-layer"].args,
        model.state_dict(),
        {"batch_size": 32},
        {},
        (0.1307, 0.3081),
    )
    inspection = inspect_target("20260101", runs_dir)
    assert inspection.model == "1-layer" and inspection.batch_size == 32
    name, filters = first_conv_filters(model)
    assert name == "features.0" and filters.shape == (32, 3, 3)
    maps = feature_maps(model, np.zeros((28, 28), np.uint8), (0.1307, 0.3081))
    assert [(n, m.shape) for n, m in maps] == [("features.0", (32, 28, 28))]
