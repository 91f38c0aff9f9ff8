"""The model zoo: a registry of small MNIST CNNs with their sizes and training defaults."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(
    c_in: int, c_out: int, kernel: int = 3, padding: int = 1, act: type[nn.Module] = nn.ReLU, bias: bool = False
) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=bias), nn.BatchNorm2d(c_out), act()]


def conv_bn_pool(c_in: int, c_out: int, padding: int = 1, bias: bool = False) -> list[nn.Module]:
    """conv-BN-ReLU-maxpool, computed as conv-BN-maxpool-ReLU: the same function, since both ReLU and max
    are monotone, but ReLU and its backward then touch a quarter of the values. Parameter names match."""
    return [nn.Conv2d(c_in, c_out, 3, padding=padding, bias=bias), nn.BatchNorm2d(c_out), nn.MaxPool2d(2), nn.ReLU()]


def stem(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """`bn(conv(x))` in training mode for a first conv with one input channel, without a BN pass.

    The same function and gradients: batch normalisation of a linear map is a linear map whose
    statistics follow from the input's. Seen through its k x k window, the conv is `patches @ w.T`, so
    the batch mean of each output channel is `mean(patches) @ w.T + b` and its batch variance is
    `w C w.T` for the (k*k, k*k) covariance C of the patches, which one small matmul gives. Folding BN's
    scale and shift into the conv's weight and bias then yields the normalised activations straight
    from the conv, with no pass over the full-size activations to measure or normalise them, forward
    or backward. Running statistics are updated as BatchNorm2d does. Any other case is plain `bn(conv(x))`.

    The statistics and the fold are computed in float64. The weight gradient of a normalised conv is a
    small difference of large terms (BN's output is invariant to the weight's scale), so an error in
    the variance or in `rsqrt` comes out several hundred times larger in the gradient (for `compact`,
    6e-5 in `rsqrt` gave 4%): fp32 statistics that round differently on another CPU made it 0.13% off.
    In float64 those tensors (k*k and channel sized) cost well under a millisecond, and only the conv
    itself runs in the input's precision, as `bn(conv(x))`'s does.
    """
    simple = (
        conv.in_channels == 1
        and conv.groups == 1
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and isinstance(conv.padding, tuple)
        and conv.padding_mode == "zeros"
    )
    # An input that wants a gradient (saliency in training mode, say) also needs the part that flows
    # through the batch statistics, which are computed here without one.
    if not (simple and bn.training and bn.track_running_stats and bn.affine) or x.requires_grad:
        return bn(conv(x))
    (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
    exact = torch.float64  # statistics and fold: see the docstring
    with torch.no_grad():  # the patch statistics depend on the input only, which needs no gradient here
        padded = F.pad(x.detach().to(exact), (pw, pw, ph, ph))
        oh, ow = padded.shape[-2] - kh + 1, padded.shape[-1] - kw + 1
        patches = torch.stack([padded[:, 0, i : i + oh, j : j + ow] for i in range(kh) for j in range(kw)])
        patches = patches.reshape(kh * kw, -1)  # (k*k, n*oh*ow): one row per offset in the window
        count = patches.shape[1]
        patch_mean = patches.mean(1)
        centred = patches - patch_mean[:, None]
        covariance = centred @ centred.T / count
    weight = conv.weight.to(exact).reshape(conv.out_channels, -1)  # (c, k*k)
    bias = conv.bias.to(exact) if conv.bias is not None else weight.new_zeros(conv.out_channels)
    mean = weight @ patch_mean + bias
    var = ((weight @ covariance) * weight).sum(1).clamp_min(0.0)
    scale = bn.weight.to(exact) * torch.rsqrt(var + bn.eps)
    # The conv runs on the padded input minus its mean level: the same output up to a constant per
    # channel, which the shift absorbs, but the weight gradient then sums small centred terms instead
    # of large ones that cancel (0.2% error in fp32 for `compact` without this, 1e-6 with it).
    level = padded.mean()
    shift = bn.bias.to(exact) + (bias - mean + weight.sum(1) * level) * scale  # the conv bias cancels
    with torch.no_grad():
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked + 1)
        bn.num_batches_tracked.add_(1)
        bn.running_mean.lerp_(mean.to(bn.running_mean.dtype), momentum)
        bn.running_var.lerp_((var * (count / max(count - 1, 1))).to(bn.running_var.dtype), momentum)
    folded = (conv.weight.to(exact) * scale[:, None, None, None]).to(conv.weight.dtype)
    centred_input = F.pad(x, (pw, pw, ph, ph)) - level.to(x.dtype)
    return F.conv2d(centred_input, folded, shift.to(conv.weight.dtype))


class Dropout(nn.Dropout):
    """nn.Dropout drawing its mask with one `rand` and a compare: the same distribution, about 2x
    faster than the `bernoulli_` that F.dropout uses on a CPU (2 of 58 ms per 3-layer step here)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


def stem_then(features: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`features(x)` with its leading conv and BN computed by `stem` while training."""
    if features.training and isinstance(features[0], nn.Conv2d) and isinstance(features[1], nn.BatchNorm2d):
        return features[2:](stem(features[0], features[1], x))
    return features(x)


class LayeredCNN(nn.Module):
    """The reference menu app's 1/2/3-layer CNNs: [conv3x3-BN-ReLU-maxpool] x N, dropout, linear."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, size = 1, 28
        for c_out in channels:
            layers += conv_bn_pool(c_in, c_out)
            c_in, size = c_out, size // 2
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        if dropout:
            head.append(Dropout(dropout))
        head.append(nn.Linear(c_in * size * size, 10))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(stem_then(self.features, x))


class DSCNN(nn.Module):
    """Two conv blocks (conv3x3 with bias, BN, ReLU, maxpool), global average pool, linear."""

    def __init__(self, c1: int = 16, c2: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_pool(1, c1, bias=True),
            *conv_bn_pool(c1, c2, bias=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(c2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(stem_then(self.features, x))


class VGGish(nn.Module):
    """VGG-style blocks with BN and GELU and a 512-unit head."""

    def __init__(self):
        super().__init__()
        gelu = nn.GELU
        self.features = nn.Sequential(
            *conv_bn(1, 32, act=gelu),
            *conv_bn(32, 32, act=gelu),
            nn.MaxPool2d(2),
            nn.Dropout2d(0.2),
            *conv_bn(32, 64, act=gelu),
            *conv_bn(64, 64, act=gelu),
            nn.MaxPool2d(2),
            nn.Dropout2d(0.25),
            *conv_bn(64, 128, act=gelu),
            nn.Dropout2d(0.3),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(6272, 512), nn.BatchNorm1d(512), nn.GELU(), nn.Dropout(0.35), nn.Linear(512, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(stem_then(self.features, x))


class ConvNet(nn.Module):
    """Two convs (16, 32; kernel 3, padding 2) with BN, ReLU and maxpool, then one linear layer."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_pool(1, 16, padding=2, bias=True),  # 28 -> 30 -> 15
            *conv_bn_pool(16, 32, padding=2, bias=True),  # 15 -> 17 -> 8
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 8 * 8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(stem_then(self.features, x))


class Compact(nn.Module):
    """Under 8k parameters: unpadded 3x3 convs with BN, a 1x1 transition, global average pooling."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 10, padding=0),  # 26
            *conv_bn_pool(10, 16, padding=0),  # 24 -> 12
            *conv_bn(16, 10, kernel=1, padding=0),  # 1x1 transition
            *conv_bn(10, 16, padding=0),  # 10
            *conv_bn(16, 16, padding=0),  # 8
            *conv_bn(16, 14, padding=0),  # 6
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(14, 10, 1, bias=True),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stem_then(self.features, x)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    description: str
    source: str
    args: dict = field(default_factory=dict)
    # Training recipe this model was published with; merged into the config unless overridden.
    train_defaults: dict = field(default_factory=dict)

    def create(self) -> nn.Module:
        return self.build(**self.args)


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    REGISTRY[spec.name] = spec


register(
    ModelSpec(
        "1-layer", LayeredCNN, "conv32, BN, no dropout", "reference menu app", {"channels": (32,), "dropout": 0.0}
    )
)
register(
    ModelSpec(
        "2-layer",
        LayeredCNN,
        "conv32-64, BN, dropout 0.2",
        "reference menu app",
        {"channels": (32, 64), "dropout": 0.2},
    )
)
register(
    ModelSpec(
        "3-layer",
        LayeredCNN,
        "conv32-64-128, BN, dropout 0.3",
        "reference menu app",
        {"channels": (32, 64, 128), "dropout": 0.3},
    )
)
register(ModelSpec("ds-cnn-v1", DSCNN, "conv16-32, GAP", "ds-cnn project", {"c1": 16, "c2": 32}))
register(ModelSpec("ds-cnn-v2", DSCNN, "conv14-28, GAP", "ds-cnn project", {"c1": 14, "c2": 28}))
register(ModelSpec("ds-cnn-v3", DSCNN, "conv18-36, GAP", "ds-cnn project", {"c1": 18, "c2": 36}))
register(
    ModelSpec(
        "vgg",
        VGGish,
        "VGG blocks 32-64-128, GELU, 512 head",
        "vgg project",
        train_defaults={"schedule": "step", "step_size": 10, "gamma": 0.5, "label_smoothing": 0.1},
    )
)
register(ModelSpec("convnet", ConvNet, "conv16-32 (pad 2), linear", "convnet tutorial"))
register(ModelSpec("compact", Compact, "<8k params, 1x1 transition, GAP", "mnist-tui"))


class UnknownModel(KeyError):
    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r}; choose one of: {', '.join(REGISTRY)}"


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModel(name) from None


MAX_WIDTH = 1024  # channels of one layer in a checkpoint; the registry's widest is 128
MAX_LAYERS = 4  # 28 -> 14 -> 7 -> 3 -> 1: a fifth pooling would leave no pixels


def _checked_value(label: str, default, value):
    """`value` if it has the type of the builder's `default` and lies in that type's bounds."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{label} must be true or false")
        return value
    if isinstance(default, int):  # a layer width
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WIDTH:
            raise ValueError(f"{label} must be a whole number from 1 to {MAX_WIDTH}, not {value!r:.40}")
        return value
    if isinstance(default, float):  # a dropout probability, the only float argument
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and 0 <= value < 1)
        ):
            raise ValueError(f"{label} must be a number in [0, 1), not {value!r:.40}")
        return float(value)
    if isinstance(default, tuple):  # widths of the layers
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_LAYERS:
            raise ValueError(f"{label} must list 1 to {MAX_LAYERS} layer widths")
        return tuple(_checked_value(label, default[0], v) for v in value)
    raise ValueError(f"{label} cannot be set from a checkpoint")


def check_model_args(name: str, args) -> dict:
    """Checkpoint `model_args` checked against the builder's own signature: only the arguments it takes, each
    of its default's type and within bounds, so nothing is built from a crafted file (channels -5, or
    200000 that would ask for 1.44 TB). Returns them ready for `spec.build(**args)`; raises ValueError."""
    spec = get_spec(name)
    if not isinstance(args, dict):
        raise ValueError("model_args is not a mapping")
    params = inspect.signature(spec.build).parameters
    checked = {}
    for key, value in args.items():
        param = params.get(key) if isinstance(key, str) else None
        if param is None or param.default is inspect.Parameter.empty:
            raise ValueError(f"{name} takes no argument {key!r:.40}")
        checked[key] = _checked_value(f"{name} {key}", param.default, value)
    return checked


def check_checkpoint(checkpoint) -> tuple[ModelSpec, dict]:
    """The spec and checked arguments of a loaded checkpoint dict; ValueError or UnknownModel says what is wrong."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f"it holds a {type(checkpoint).__name__}, not a checkpoint")
    name = checkpoint.get("model_name")
    if not isinstance(name, str):
        raise ValueError("it names no model")
    spec = get_spec(name)
    weights = checkpoint.get("state_dict")
    if (
        not isinstance(weights, dict)
        or not weights
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items())
    ):
        raise ValueError("it holds no weights (state_dict)")
    config = checkpoint.get("config", {})
    if not isinstance(config, dict) or not isinstance(config.get("data_dir") or "", str):
        raise ValueError("its config is not a mapping of settings")
    return spec, check_model_args(name, checkpoint.get("model_args", {}))


def build_model(name: str) -> nn.Module:
    return get_spec(name).create()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def size_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers (BN statistics) in fp32: what a checkpoint holds."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def activation_bytes(model: nn.Module) -> int:
    """Peak activation memory for one fp32 image in inference: the largest input+output pair of any leaf layer."""
    peak = 0

    def hook(module, inputs, output):
        nonlocal peak
        size = (
            sum(t.numel() * t.element_size() for t in inputs if torch.is_tensor(t))
            + output.numel() * output.element_size()
        )
        peak = max(peak, size)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    model.train(was_training)
    for handle in handles:
        handle.remove()
    return peak


@dataclass(frozen=True)
class ModelInfo:
    name: str
    params: int
    size_bytes: int
    activation_bytes: int
    description: str
    source: str


def describe(name: str) -> ModelInfo:
    spec = get_spec(name)
    model = spec.create()
    return ModelInfo(
        name, count_params(model), size_bytes(model), activation_bytes(model), spec.description, spec.source
    )
