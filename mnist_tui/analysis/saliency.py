"""Saliency maps (gradient x input, vanilla gradient, SmoothGrad) and one-call prediction with saliency
for a 28x28 digit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mnist_tui.engine.batches import MEAN, STD, to_input

SMOOTHGRAD_SAMPLES = 8  # each sample costs about one more image's forward and backward pass
SMOOTHGRAD_NOISE = 0.15  # std of the Gaussian noise, as a fraction of the input range [0, 1] (the paper's 10-20%)
# The names shown on screen, by method. Gradient x input is the default: on 100 real test digits 88% of its
# saliency lies on the ink, against 14-15% for the gradient and 12-14% for SmoothGrad, whose maps are about
# as spread as a flat one (12%) (1- and 3-layer, benchmarks/saliency_quality.py). Much of that is by
# construction, since a blank pixel is 0 and adds nothing (the image itself, as a map, scores 89%); what it
# adds is which strokes raised the score. It cannot show where missing ink would have changed the answer.
METHODS = {"input_x_gradient": "grad × input", "gradient": "gradient", "smoothgrad": "SmoothGrad"}
DEFAULT_METHOD = "input_x_gradient"


@dataclass(frozen=True)
class Prediction:
    probs: np.ndarray  # float32 (10,), softmax of the clean image
    top: int  # the predicted digit
    saliency: np.ndarray  # float32 (28, 28) in [0, 1]

    @property
    def confidence(self) -> float:
        return float(self.probs[self.top])


def as_tensor(image) -> torch.Tensor:
    """uint8 or float [0, 1] image (28, 28) -> float tensor (1, 28, 28) in [0, 1]."""
    array = np.asarray(image)
    if array.shape != (28, 28):
        raise ValueError(f"expected a 28x28 image, got shape {array.shape}; run it through preprocess first")
    x = torch.from_numpy(np.array(array, dtype=np.float32))
    if array.dtype == np.uint8:
        x = x / 255.0
    return x.unsqueeze(0)


def normalise(grad: torch.Tensor) -> np.ndarray:
    """|grad| (28, 28) scaled so the largest is 1; all zeros stays all zeros."""
    grad = grad.abs()
    peak = grad.max()
    if peak > 0:
        grad = grad / peak
    return grad.numpy().astype(np.float32)


def _input_gradients(
    model, batch: torch.Tensor, target: int | None, normalization: tuple[float, float] = (MEAN, STD)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for (n, 28, 28) images in [0, 1], and d logit[target] / d input per image.

    The target defaults to the top class of the first image. Eval mode, so BatchNorm and dropout
    treat every image on its own.
    """
    was_training = model.training
    if was_training:  # eval() walks every module: skip it in the usual case, a model already in eval mode
        model.eval()
    device = next(model.parameters()).device
    try:
        x = batch.to(device).requires_grad_(True)
        with torch.enable_grad():
            logits = model(to_input(x, normalization=normalization))
            if target is None:
                target = int(logits[0].argmax())
            # autograd.grad on the input only: weight gradients are never computed or stored
            (grad,) = torch.autograd.grad(logits[:, target].sum(), x)
    finally:
        if was_training:
            model.train()
    return logits.detach().float().cpu(), grad.detach().float().cpu()


def vanilla_gradient(model, image, target: int | None = None) -> np.ndarray:
    """|d logit[target] / d pixel|, normalised to [0, 1]; target defaults to the top class.

    `model` is a bare model or an `inference.RunModel`, whose recorded normalisation is used."""
    from mnist_tui.training.inference import as_run

    run = as_run(model)
    _, grad = _input_gradients(run.model, as_tensor(image), target, run.recipe.normalization)
    return normalise(grad[0])


def smoothgrad(
    model,
    image,
    target: int | None = None,
    samples: int = SMOOTHGRAD_SAMPLES,
    noise: float = SMOOTHGRAD_NOISE,
    seed: int = 0,
) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): mean |gradient| over noisy copies, normalised to [0, 1].

    The noise is seeded so that the same image always gives the same map.
    """
    from mnist_tui.training.inference import as_run

    run = as_run(model)
    return _smoothgrad(run.model, as_tensor(image), target, samples, noise, seed, run.recipe.normalization)


def _smoothgrad(model, x: torch.Tensor, target, samples, noise, seed, normalization) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    noisy = x + noise * torch.randn((samples, 28, 28), generator=generator)
    # The clean image rides along as row 0, so its top class is the default target
    _, grads = _input_gradients(model, torch.cat([x, noisy]), target, normalization)
    return normalise(grads[1:].abs().mean(0))


def input_x_gradient(model, image, target: int | None = None) -> np.ndarray:
    """|pixel x d logit[target] / d pixel| (Shrikumar et al. 2016), normalised to [0, 1]: how much each pixel's
    ink added to the class score. Blank background contributes nothing, however steep the gradient there."""
    from mnist_tui.training.inference import as_run

    run = as_run(model)
    x = as_tensor(image)
    _, grad = _input_gradients(run.model, x, target, run.recipe.normalization)
    return normalise(grad[0] * x[0].detach())


def predict_with_saliency(
    model, image, method: str = DEFAULT_METHOD, samples: int = SMOOTHGRAD_SAMPLES, noise: float = SMOOTHGRAD_NOISE
) -> Prediction:
    """Probabilities, top class and saliency for one preprocessed 28x28 digit (uint8 or float [0, 1]).

    `model` is an `inference.RunModel` or a bare model. The probabilities come from `inference.run_logits`,
    as the run's test score did (its precision, TTA and normalisation); the saliency map (one of METHODS)
    is computed in fp32 for that top class. The gradient costs about 2 ms with the 3-layer model on one
    CPU core, fast enough for every stroke; SmoothGrad about 1 ms more per sample (benchmarks/predict_latency.py).
    """
    from mnist_tui.training.inference import as_run, run_probs

    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of: {', '.join(METHODS)}")
    run = as_run(model)
    x = as_tensor(image)
    probs = run_probs(run, x)[0]
    top = int(probs.argmax())
    norm = run.recipe.normalization
    if method == "smoothgrad":
        saliency = _smoothgrad(run.model, x, top, samples, noise, 0, norm)
    else:
        grad = _input_gradients(run.model, x, top, norm)[1][0]
        saliency = normalise(grad * x[0].detach() if method == "input_x_gradient" else grad)
    return Prediction(probs, top, saliency)
