"""The one inference path: `evaluate` reproduces the recorded test accuracy, with TTA, in bf16, and with
the checkpoint's own normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_tui.analysis.predict import predict_probs
from mnist_tui.analysis.saliency import predict_with_saliency
from mnist_tui.cli.main import main
from mnist_tui.common.fileio import read_json
from mnist_tui.engine.splits import load_splits
from mnist_tui.runfolder.checkpoint import save_checkpoint
from mnist_tui.runfolder.record import CHECKPOINT
from mnist_tui.training.evaluation import evaluate_run
from mnist_tui.training.inference import load_run, run_logits
from mnist_tui.training.train import fit


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [{"tta": True}, {"precision": "bf16"}, {"precision": "bf16", "tta": True}],
    ids=["tta", "bf16", "bf16-tta"],
)
def test_evaluate_reproduces_the_recorded_test_accuracy(tiny_config, synthetic_dir, overrides, capsys):
    result = fit(tiny_config(epochs=1, **overrides))
    recorded = read_json(result.run_dir / "summary.json")["test_acc"]
    run = load_run(result.run_dir)
    assert run.recipe.tta == overrides.get("tta", False)
    assert run.recipe.precision == overrides.get("precision", "fp32")
    assert evaluate_run(result.run_dir).test_acc == recorded
    assert main(["evaluate", str(result.run_dir)]) == 0
    assert "matches the test accuracy recorded in summary.json exactly" in capsys.readouterr().out
    # predict, saliency and the Predict screen go through the same function, so they agree with it
    test = load_splits(str(synthetic_dir))
    logits = run_logits(run, test.test_x[:16])
    assert np.array_equal(predict_probs(run, test.test_x[:16].numpy()).argmax(1), logits.argmax(1).numpy())
    assert predict_with_saliency(run, test.test_x[0].numpy()).top == int(logits[0].argmax())


def test_the_checkpoint_normalisation_is_read_back(runs_dir):
    """A checkpoint that records another normalisation is fed inputs normalised its way."""
    from mnist_tui.engine.models import REGISTRY, build_model

    torch.manual_seed(0)
    model = build_model("1-layer").eval()
    run_dir = runs_dir / "20260101-000000_1-layer_acc10.00"
    run_dir.mkdir()
    save_checkpoint(
        run_dir / CHECKPOINT,
        "1-layer",
        REGISTRY["1-layer"].args,
        model.state_dict(),
        {"precision": "fp32", "channels_last": False},
        {},
        (0.5, 0.25),
    )
    run = load_run(run_dir)
    assert run.recipe.normalization == (0.5, 0.25)
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    with torch.no_grad():
        expected = model((images.float().unsqueeze(1) / 255 - 0.5) / 0.25)
    assert torch.allclose(run_logits(run, images), expected, atol=1e-4)
