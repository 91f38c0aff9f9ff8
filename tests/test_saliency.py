"""Saliency maps and prediction with saliency, on a small model trained on synthetic data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from mnist_tui.analysis.saliency import (
    DEFAULT_METHOD,
    METHODS,
    Prediction,
    input_x_gradient,
    predict_with_saliency,
    smoothgrad,
    vanilla_gradient,
)
from mnist_tui.engine import data


@pytest.fixture(scope="module")
def trained(trained_run):
    """The session's 1-layer CNN, trained for two epochs on the synthetic bars (a bar's height encodes the class)."""
    return trained_run.model.eval()


@pytest.fixture(scope="module")
def test_images(synthetic_dir):
    arrays = data.load_arrays(synthetic_dir)
    return arrays.test_images[:20], arrays.test_labels[:20]


@pytest.mark.parametrize("method", [vanilla_gradient, smoothgrad, input_x_gradient])
def test_saliency_is_a_normalised_non_negative_28x28_map(trained, test_images, method):
    images, _ = test_images
    for image in images[:3]:
        saliency = method(trained, image)
        assert saliency.shape == (28, 28) and saliency.dtype == np.float32
        assert saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)


@pytest.mark.parametrize("method", [vanilla_gradient, smoothgrad, input_x_gradient])
def test_saliency_is_higher_on_ink_than_on_background(trained, test_images, method):
    images, _ = test_images
    ratios = []
    for image in images:
        saliency = method(trained, image)
        ink = image > 128  # the bar; the background is faint noise below 40
        ratios.append(saliency[ink].mean() / saliency[~ink].mean())
    # measured: median 1.9 (gradient) and 1.6 (SmoothGrad), every image above 1.4
    assert min(ratios) > 1.0 and np.median(ratios) > 1.25, ratios


def test_prediction_carries_probabilities_top_class_and_saliency(trained, test_images):
    images, labels = test_images
    hits = 0
    for image, label in zip(images, labels):
        for method in ("smoothgrad", "gradient"):
            prediction = predict_with_saliency(trained, image, method=method)
            assert isinstance(prediction, Prediction)
            assert prediction.probs.shape == (10,) and prediction.probs.sum() == pytest.approx(1, abs=1e-5)
            assert prediction.top == int(prediction.probs.argmax())
            assert prediction.confidence == prediction.probs[prediction.top]
            assert prediction.saliency.shape == (28, 28) and prediction.saliency.min() >= 0
        hits += prediction.top == label
    assert hits >= 18


def test_uint8_and_float_inputs_agree(trained, test_images):
    image = test_images[0][0]
    a = predict_with_saliency(trained, image)
    b = predict_with_saliency(trained, image.astype(np.float32) / 255)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    np.testing.assert_allclose(a.saliency, b.saliency, atol=1e-4)


def test_smoothgrad_is_repeatable_and_leaves_the_model_as_it_was(trained, test_images):
    image = test_images[0][0]
    trained.train()
    try:
        before = {k: v.clone() for k, v in trained.state_dict().items()}
        first, second = smoothgrad(trained, image), smoothgrad(trained, image)
        assert trained.training  # put back in training mode, as it was
        for key, value in trained.state_dict().items():
            assert torch.equal(value, before[key])  # BatchNorm statistics untouched
        assert all(p.grad is None for p in trained.parameters())
    finally:
        trained.eval()
    np.testing.assert_array_equal(first, second)


def test_blank_input_gives_a_zero_map_not_nan(trained):
    saliency = vanilla_gradient(trained, np.zeros((28, 28), dtype=np.float32))
    assert np.isfinite(saliency).all() and saliency.min() >= 0


def test_wrong_shape_is_refused(trained):
    with pytest.raises(ValueError, match="28x28"):
        predict_with_saliency(trained, np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="unknown saliency method"):
        predict_with_saliency(trained, np.zeros((28, 28), dtype=np.uint8), method="lime")


def test_compute_modules_never_import_the_ui():
    # one subprocess for the three: a fresh interpreter shows what importing them pulls in
    code = (
        "import sys, mnist_tui.analysis.preprocess, mnist_tui.analysis.saliency, mnist_tui.analysis.predict; "
        "bad = [m for m in ('textual', 'rich', 'plotext') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gradient_x_input_is_the_default_and_is_zero_where_the_image_is_blank(trained, test_images):
    images, _ = test_images
    assert DEFAULT_METHOD == "input_x_gradient" and METHODS[DEFAULT_METHOD] == "grad × input"
    image = images[0].copy()
    image[:, :4] = 0  # a blank strip: nothing there can have raised the score
    default = predict_with_saliency(trained, image).saliency
    np.testing.assert_allclose(default, input_x_gradient(trained, image), atol=1e-6)
    assert default[:, :4].max() == 0
