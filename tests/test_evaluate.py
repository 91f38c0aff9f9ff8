"""Evaluation with folded BatchNorm gives the model's own answers; the allocator setting stops page faults."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from mnist_tui.engine import models
from mnist_tui.engine.evaluate import evaluate, inference_model, predict_logits


def trained_a_little(name: str) -> torch.nn.Module:
    """A model whose BN statistics and affine weights are far from their initial values."""
    torch.manual_seed(0)
    model = models.build_model(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(torch.randn(32, 1, 28, 28) * 2 + 1), torch.randint(0, 10, (32,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_folded_model_gives_the_same_logits(name):
    model = trained_a_little(name)
    fused = inference_model(model)
    assert model.training  # the caller's model is left as it was
    assert not [m for m in fused.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d))]
    x = torch.randn(16, 1, 28, 28)
    with torch.inference_mode():
        expected = model.eval()(x)
        assert torch.allclose(fused(x), expected, atol=1e-4, rtol=1e-4)


def test_evaluate_matches_the_plain_model_in_channels_last():
    model = trained_a_little("3-layer").eval()
    images = torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (300,))
    metrics = evaluate(model.to(memory_format=torch.channels_last), images, labels, batch_size=128, channels_last=True)
    with torch.inference_mode():
        x = (images.float() / 255 - 0.1307) / 0.3081
        plain = model(x.unsqueeze(1)).argmax(1)
    assert (torch.from_numpy(metrics.predictions) == plain).float().mean() > 0.99  # rounding may flip a near tie
    assert predict_logits(model, images[:0]).shape == (0, 10)


def test_a_model_that_cannot_be_traced_is_used_as_it_is():
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(784, 10)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
                return self.linear(x.flatten(1))
            return -self.linear(x.flatten(1))

    model = Branchy()
    assert inference_model(model) is model


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc malloc tuning is Linux-only")
@pytest.mark.slow
def test_training_steps_stop_page_faulting_once_freed_memory_is_kept():
    probe = """
import resource, sys, torch
from mnist_tui.engine.device import keep_freed_memory
from mnist_tui.engine.models import build_model
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert keep_freed_memory()
model = build_model("3-layer")
x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
def step():
    torch.nn.functional.cross_entropy(model(x), y).backward()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
"""
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", probe, mode], capture_output=True, text=True, check=True, timeout=120
            ).stdout
        )
        for mode in ("default", "keep")
    }
    assert faults["keep"] * 4 < faults["default"], faults  # here: about 500 against 5,000-12,000


def test_an_ensemble_averages_its_members_probabilities(tiny_config, synthetic_dir):
    from mnist_tui.engine.splits import load_splits
    from mnist_tui.runfolder.checkpoint import load_checkpoint
    from mnist_tui.runfolder.record import RunError
    from mnist_tui.training.evaluation import evaluate_ensemble, evaluate_run
    from mnist_tui.training.train import fit

    # Two weak models that disagree, one of them tested with test-time augmentation.
    a = fit(tiny_config(epochs=1, seed=0, train_subset=200)).run_dir
    b = fit(tiny_config(epochs=1, seed=1, train_subset=200, tta=True)).run_dir
    members, ensemble = evaluate_ensemble([a, b])

    assert [m.acc for m in members] == [evaluate_run(a).test_acc, evaluate_run(b).test_acc]
    test = load_splits(synthetic_dir)
    probs = [
        predict_logits(load_checkpoint(path)[0], test.test_x, tta=tta).softmax(1)
        for path, tta in ((a, False), (b, True))
    ]
    mean = (probs[0] + probs[1]) / 2
    assert (ensemble.predictions == mean.argmax(1).numpy()).all()
    assert ensemble.test_acc == pytest.approx((mean.argmax(1) == test.test_y).float().mean().item())
    assert ensemble.test_loss == pytest.approx(
        -mean[range(len(test.test_y)), test.test_y].log().mean().item(), rel=1e-5
    )
    assert ensemble.confusion.sum() == len(test.test_y)

    for bad, message in (([a], "at least two"), ([a, a], "listed twice")):
        with pytest.raises(RunError, match=message):
            evaluate_ensemble(bad)


def test_per_class_precision_and_recall_are_the_ones_computed_by_hand():
    """Four true zeros, one read as a 1: zero's precision 3/3 and recall 3/4; one's precision 1/2, recall 1/1."""
    from mnist_tui.engine.evaluate import per_class

    scores = per_class([0, 0, 0, 0, 1], [0, 0, 0, 1, 1])
    assert scores["precision"][:2] == [1.0, 0.5]
    assert scores["recall"][:2] == [0.75, 1.0]
    assert scores["support"][:3] == [4, 1, 0]


def test_worst_confusions_name_the_most_frequent_mistakes_first():
    import numpy as np

    from mnist_tui.engine.evaluate import worst_confusions

    matrix = np.diag([50] * 10)
    matrix[3, 8], matrix[4, 9], matrix[7, 1] = 5, 2, 1
    assert worst_confusions(matrix, 2) == [(3, 8, 5), (4, 9, 2)]
    assert worst_confusions(matrix, 5) == [(3, 8, 5), (4, 9, 2), (7, 1, 1)]  # never a cell with no mistakes
