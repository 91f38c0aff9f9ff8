"""Looking inside a model: per-layer shapes, parameters, MACs and activation memory, learned filters and
feature maps."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_tui.engine.models import count_params


@dataclass(frozen=True)
class LayerRow:
    name: str  # the module's path in the model, e.g. features.0
    type: str  # its class, e.g. Conv2d
    output_shape: tuple[int, ...]  # for one 28x28 image, without the batch dimension
    params: int  # the layer's own parameters
    macs: int  # multiply-accumulates for one image: exact for conv and linear layers, 0 for the rest
    activation_bytes: int  # new memory its output takes for one image (0 for a view or an identity)
    batch_activation_bytes: int  # the same for the training batch


@dataclass(frozen=True)
class Inspection:
    model: str
    batch_size: int  # the training batch the batch column was measured at
    layers: list[LayerRow]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_activation_bytes(self) -> int:
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def total_batch_activation_bytes(self) -> int:
        return sum(layer.batch_activation_bytes for layer in self.layers)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "layers": [
                {
                    "name": layer.name,
                    "type": layer.type,
                    "output_shape": list(layer.output_shape),
                    "params": layer.params,
                    "macs": layer.macs,
                    "activation_bytes": {
                        "image": layer.activation_bytes,
                        "batch": layer.batch_activation_bytes,
                        "batch_size": self.batch_size,
                    },
                }
                for layer in self.layers
            ],
            "total_params": self.total_params,
            "total_macs": self.total_macs,
        }


def layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-accumulates per image, counted from the shapes: each output value of a conv is one dot
    product over its (in_channels / groups) x kh x kw window; each output of a linear layer one over its inputs."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return int(output[0].numel() * (module.in_channels // module.groups) * kh * kw)
    if isinstance(module, nn.Linear):
        return int(output[0].numel() * module.in_features)
    return 0


def _leaves(model: nn.Module) -> dict[nn.Module, str]:
    return {module: name for name, module in model.named_modules() if not list(module.children())}


def _shares_memory(output: torch.Tensor, inputs: tuple) -> bool:
    """A view (Flatten) or the input itself (Dropout in eval mode) takes no new activation memory."""
    storage = output.untyped_storage().data_ptr()
    return any(torch.is_tensor(t) and t.untyped_storage().data_ptr() == storage for t in inputs)


@torch.no_grad()
def _forward_trace(model: nn.Module, batch: int) -> list[tuple[nn.Module, str, tuple[int, ...], int, int]]:
    """Run `batch` black images through the model in eval mode; each leaf layer as it was called:
    (module, name, output shape per image, MACs per image, new output bytes)."""
    names = _leaves(model)
    seen: list = []

    def hook(module, inputs, output):
        fresh = 0 if _shares_memory(output, inputs) else output.numel() * output.element_size()
        seen.append((module, names[module], tuple(output.shape[1:]), layer_macs(module, inputs, output), fresh))

    handles = [module.register_forward_hook(hook) for module in names]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(batch, 1, 28, 28))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return seen


def inspect_model(model: nn.Module, name: str, batch_size: int) -> Inspection:
    """One row per leaf layer in the order the forward pass calls it, measured by hooks on a real pass
    for one image and for `batch_size` images (fp32, inference mode). Layers the forward pass never calls
    are listed after, with their parameters, so the totals match the model's."""
    # a contiguous copy: a channels_last model's Flatten would copy, and the table would depend on how it was loaded
    model = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    one, batch = _forward_trace(model, 1), _forward_trace(model, batch_size)
    batch_bytes = {module: fresh for module, _, _, _, fresh in batch}
    rows = [
        LayerRow(label, type(module).__name__, shape, count_params_own(module), macs, fresh, batch_bytes.get(module, 0))
        for module, label, shape, macs, fresh in one
    ]
    called = {module for module, *_ in one}
    rows += [
        LayerRow(label, type(module).__name__, (), count_params_own(module), 0, 0, 0)
        for module, label in _leaves(model).items()
        if module not in called and count_params_own(module)
    ]
    assert sum(r.params for r in rows) == count_params(model)
    return Inspection(name, batch_size, rows)


def count_params_own(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def inspect_target(target: str, runs_dir: Path | str = "runs") -> Inspection:
    """A registry model by name (fresh weights, its default training batch), or a recorded run (its weights
    and the batch it trained with)."""
    from mnist_tui.common.fileio import read_json
    from mnist_tui.engine.config import make_config
    from mnist_tui.engine.models import REGISTRY, build_model
    from mnist_tui.runfolder.checkpoint import load_checkpoint
    from mnist_tui.runfolder.record import RunError
    from mnist_tui.runfolder.runs import resolve_run

    if target in REGISTRY:
        return inspect_model(build_model(target), target, make_config(target).batch_size)
    try:
        run_dir = resolve_run(runs_dir, target)
    except RunError:
        raise RunError(
            f"no model or run named {target!r}; models: {', '.join(REGISTRY)} (runs: `mnist-tui runs`)"
        ) from None
    model, checkpoint = load_checkpoint(run_dir)
    config = checkpoint.get("config") or read_json(Path(run_dir) / "config.json")
    batch = int(config.get("batch_size") or make_config(checkpoint["model_name"]).batch_size)
    return inspect_model(model, checkpoint["model_name"], batch)


def table_rows(inspection: Inspection) -> list[tuple[str, ...]]:
    """The table's cells as text, one row per layer, then the totals."""
    from mnist_tui.common.text import human_bytes

    rows = [
        (
            layer.name,
            layer.type,
            "x".join(map(str, layer.output_shape)) or "-",
            f"{layer.params:,}",
            f"{layer.macs:,}",
            human_bytes(layer.activation_bytes),
            human_bytes(layer.batch_activation_bytes),
        )
        for layer in inspection.layers
    ]
    rows.append(
        (
            "total",
            "",
            "",
            f"{inspection.total_params:,}",
            f"{inspection.total_macs:,}",
            human_bytes(inspection.total_activation_bytes),
            human_bytes(inspection.total_batch_activation_bytes),
        )
    )
    return rows


def format_table(inspection: Inspection) -> str:
    from mnist_tui.common.text import table

    headers = ["layer", "type", "output", "params", "MACs", "act/image", f"act/batch {inspection.batch_size}"]
    lines = table(headers, table_rows(inspection), "lllrrrr").splitlines()
    lines.insert(len(lines) - 1, lines[1])  # a rule above the totals
    return "\n".join(lines)


# -------------------------------------------------- what the Model screen draws


def first_conv_filters(model: nn.Module) -> tuple[str, np.ndarray] | None:
    """The first conv layer's name and its learned kernels (out_channels, kh, kw), averaged over input channels."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module.weight.detach().float().mean(1).cpu().numpy()
    return None


@torch.no_grad()
def feature_maps(
    model: nn.Module, image: np.ndarray, normalization: tuple[float, float]
) -> list[tuple[str, np.ndarray]]:
    """Every conv layer's output (channels, h, w) for one 28x28 digit (uint8, or float in [0, 1]), in order,
    from one eval-mode forward pass with the input normalised as the model was trained."""
    mean, std = normalization
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, 28, 28)
    if np.asarray(image).dtype == np.uint8:
        x = x / 255.0
    x = (x - mean) / std
    names = {m: n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    maps: list[tuple[str, np.ndarray]] = []
    handles = [
        m.register_forward_hook(lambda m, i, o: maps.append((names[m], o[0].float().cpu().numpy()))) for m in names
    ]
    was_training = model.training
    model.eval()
    try:
        model(x.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return maps


def to_tiles(arrays: np.ndarray, size: int, symmetric: bool = False) -> list[np.ndarray]:
    """Stacked maps (n, h, w) -> n uint8 tiles of size x size, on one scale shared by all of them, so channels
    compare: min..max, or -m..m around a mid-grey zero when `symmetric` (signed filter weights). Downscaled by
    block means when h is a multiple of size, else resized by nearest neighbour."""
    arrays = np.asarray(arrays, dtype=np.float32)
    if symmetric:
        peak = float(np.abs(arrays).max()) or 1.0
        scaled = (arrays / peak + 1.0) * 127.5
    else:
        low, high = float(arrays.min()), float(arrays.max())
        scaled = (arrays - low) / ((high - low) or 1.0) * 255.0
    n, h, w = scaled.shape
    if h % size == 0 and w % size == 0:
        scaled = scaled.reshape(n, size, h // size, size, w // size).mean(axis=(2, 4))
    else:
        rows, cols = np.arange(size) * h // size, np.arange(size) * w // size
        scaled = scaled[:, rows][:, :, cols]
    return [tile for tile in np.clip(scaled.round(), 0, 255).astype(np.uint8)]
