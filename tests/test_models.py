"""Every registry model: forward shape, parameter counts, and size reporting; augmentation."""

from __future__ import annotations

import pytest
import torch

from mnist_tui.engine import augment, models

EXACT_PARAMS = {"ds-cnn-v1": 5226, "ds-cnn-v2": 4070, "ds-cnn-v3": 6526}


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_forward_and_sizes(name):
    model = models.build_model(name).eval()
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    info = models.describe(name)
    assert info.params == models.count_params(model) > 0
    assert info.size_bytes >= info.params * 4
    assert info.activation_bytes > 0
    if name in EXACT_PARAMS:
        assert info.params == EXACT_PARAMS[name]


def test_compact_is_under_8k():
    assert models.describe("compact").params < 8000


def test_reference_models_have_batchnorm_and_dropout():
    three = models.build_model("3-layer")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in three.modules()) == 3
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in three.modules())
    one = models.build_model("1-layer")
    assert not any(isinstance(m, torch.nn.Dropout) for m in one.modules())


def test_unknown_model_is_one_line():
    with pytest.raises(models.UnknownModel, match="unknown model 'nope'; choose one of: 1-layer"):
        models.get_spec("nope")


def test_augmentation_shape_range_and_per_image_draws():
    images = torch.zeros(16, 1, 28, 28)
    images[:, :, 8:20, 12:16] = 1.0
    out = augment.augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 1
    flat = out.flatten(1)
    assert len({tuple(row.tolist()) for row in flat}) == 16  # every image got its own draw
    assert not torch.equal(out, images)


def test_elastic_field_is_smooth_bounded_and_per_image():
    field = augment.elastic_field((8, 1, 28, 28), 2.0, torch.Generator().manual_seed(0))
    assert field.shape == (8, 28, 28, 2)
    pixels = field * 14  # grid units to pixels: [-1, 1] spans 28 px
    assert pixels.abs().max() <= 2.0 + 1e-5 and pixels.abs().max() > 1.0
    assert (pixels[:, 1:] - pixels[:, :-1]).abs().max() < 0.7  # neighbours move together: a smooth bend
    assert len({row.numpy().tobytes() for row in field}) == 8


def test_elastic_distortion_bends_strokes_and_is_off_by_default():
    images = torch.zeros(16, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0
    plain = augment.augment(images, torch.Generator().manual_seed(0), erase_p=0)
    assert torch.equal(plain, augment.augment(images, torch.Generator().manual_seed(0), erase_p=0, elastic=0.0))
    bent = augment.augment(images, torch.Generator().manual_seed(0), erase_p=0, elastic=2.0)
    assert bent.shape == images.shape and bent.min() >= 0 and bent.max() <= 1
    assert not torch.allclose(bent, plain, atol=1e-3)
    # A bend stretches some strokes and squeezes others; over a batch, ink is neither made nor lost.
    assert abs(bent.sum() / plain.sum() - 1) < 0.1


def test_augmentation_strength_scales_the_affine_ranges():
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 10:18, 10:18] = 1.0
    rows = torch.arange(28.0).view(1, 28, 1)

    def centre_shift(strength):
        out = augment.random_affine(images, torch.Generator().manual_seed(0), strength=strength)[:, 0]
        centre = (out * rows).sum((1, 2)) / out.sum((1, 2))
        return (centre - 13.5).abs().mean()

    assert torch.allclose(augment.random_affine(images, strength=1e-6), images, atol=1e-4)
    # The same draws at half the strength move each image half as far.
    assert 0.4 < centre_shift(0.5) / centre_shift(1.0) < 0.6
    assert centre_shift(1.0) > 1.0  # about ±2.8 px at full strength


def test_random_erase_blanks_rectangles():
    images = torch.ones(64, 1, 28, 28)
    out = augment.random_erase(images, torch.Generator().manual_seed(0))
    erased = (out == 0).flatten(1).sum(1)
    assert 10 < (erased > 0).sum() < 54  # about half the images
    assert erased.max() <= 0.12 * 784 * 1.3


def test_preview_gives_n_uint8_copies():
    image = torch.zeros(28, 28, dtype=torch.uint8)
    image[6:22, 13:15] = 255
    copies = augment.preview(image, 8, seed=3)
    assert copies.shape == (8, 28, 28) and copies.dtype == torch.uint8
    assert len({c.numpy().tobytes() for c in copies}) == 8


@pytest.mark.parametrize("name", ["3-layer", "ds-cnn-v1", "convnet", "compact"])
def test_pool_before_relu_is_the_textbook_block(name):
    """Blocks run conv-BN-pool-ReLU for speed; outputs and gradients match conv-BN-ReLU-pool exactly."""
    torch.manual_seed(0)
    model = models.build_model(name).train()
    textbook = models.build_model(name).train()
    textbook.load_state_dict(model.state_dict())  # same parameter names, so old checkpoints still load
    layers = list(textbook.features)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, torch.nn.MaxPool2d) and isinstance(layers[i + 1], torch.nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layer
    textbook.features = torch.nn.Sequential(*layers)
    x = torch.randn(8, 1, 28, 28, requires_grad=True)
    torch.manual_seed(1)
    ours = model(x)
    ours.sum().backward()
    grad, x.grad = x.grad.clone(), None
    torch.manual_seed(1)
    theirs = textbook(x)
    theirs.sum().backward()
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(grad, x.grad)


def stem_and_plain(name: str, dtype: torch.dtype, dropout: bool = True) -> list[dict]:
    """Outputs, gradients and buffers after one training step's forward and backward, with `stem`
    (the model's forward) and with the plain Sequential. Without dropout, runs in different dtypes
    compute the same function (dropout masks depend on the dtype)."""
    torch.manual_seed(0)
    fast = models.build_model(name)
    with torch.no_grad():  # a BN scale of either sign, and a shift
        fast.features[1].weight.uniform_(-1.5, 1.5)
        fast.features[1].bias.uniform_(-1, 1)
    plain = models.build_model(name)
    plain.load_state_dict(fast.state_dict())
    if not dropout:
        for module in [*fast.modules(), *plain.modules()]:
            if isinstance(module, (torch.nn.Dropout, torch.nn.Dropout2d)):
                module.p = 0.0
    x = (torch.randn(16, 1, 28, 28) * 0.3 + 0.1).to(dtype)
    upstream = torch.randn(16, 10, generator=torch.Generator().manual_seed(2)).to(dtype)
    results = []
    for model, run in (
        (fast, fast.forward),
        (plain, lambda x: plain.classifier(plain.features(x)) if hasattr(plain, "classifier") else plain.features(x)),
    ):
        model.to(dtype)
        torch.manual_seed(1)  # the same dropout masks
        out = run(x)
        out.backward(upstream)
        results.append(
            {
                "out": out.detach(),
                **{n: p.grad for n, p in model.named_parameters()},
                **{n: b.double() for n, b in model.named_buffers()},
            }
        )
    return results


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_training_stem_is_conv_then_batchnorm(name):
    """`stem` folds the first BN into the conv while training: in float64 the outputs, gradients and
    running statistics agree to rounding, so the maths is the same. In float32 the fold is as close to
    the float64 result as `bn(conv(x))` is, whichever CPU rounds them: a fixed float32 tolerance passed
    on one CPU and failed on another, where the fold's fp32 statistics rounded differently."""
    fast, plain = stem_and_plain(name, torch.float64)
    scale = max(max(v.abs().max() for k, v in plain.items() if k != "out").item(), 1.0)
    for key in plain:
        assert torch.allclose(fast[key], plain[key], atol=1e-9 * scale), key
    _, exact = stem_and_plain(name, torch.float64, dropout=False)
    fast, plain = stem_and_plain(name, torch.float32, dropout=False)
    scale = max(max(v.abs().max() for k, v in exact.items() if k != "out").item(), 1.0)
    for key in exact:
        fold_error = (fast[key].double() - exact[key]).abs().max().item() / scale
        plain_error = (plain[key].double() - exact[key]).abs().max().item() / scale
        assert fold_error <= max(4 * plain_error, 1e-5), (key, fold_error, plain_error)


def test_stem_passes_a_gradient_to_an_input_that_wants_one():
    """Regression guard: the folded path drops the gradient through the batch statistics, so an input
    that wants a gradient must take the plain path (it was 0.69 off in float64 before)."""
    torch.manual_seed(0)
    model = models.build_model("3-layer").train().double()
    conv, bn = model.features[0], model.features[1]
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 32, 28, 28, dtype=torch.float64)
    models.stem(conv, bn, x).backward(upstream)
    ours, x.grad = x.grad, None
    bn(conv(x)).backward(upstream)
    torch.testing.assert_close(ours, x.grad)


def test_stem_is_plain_batchnorm_outside_training():
    model = models.build_model("3-layer").eval()
    conv, bn = model.features[0], model.features[1]
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(models.stem(conv, bn, x), bn(conv(x)))


def test_dropout_keeps_about_one_minus_p_and_rescales():
    drop = models.Dropout(0.3)
    x = torch.ones(200, 1000)
    out = drop(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.7))
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(models.Dropout(1.0)(x), torch.zeros_like(x))
