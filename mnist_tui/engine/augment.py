"""Batched augmentation on tensors: one random affine draw and one erase per image, no PIL."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ROTATION_DEG = 10.0
TRANSLATE = 0.10  # fraction of the image size
SCALE = (0.9, 1.1)
ERASE_P = 0.5
ERASE_AREA = (0.02, 0.12)  # fraction of the image
ERASE_RATIO = (0.3, 3.3)
ELASTIC_GRID = 5  # control points per side of a random elastic displacement field (about 7 px apart)


def random_affine(
    images: torch.Tensor, generator: torch.Generator | None = None, elastic: float = 0.0, strength: float = 1.0
) -> torch.Tensor:
    """Rotate ±10°, translate ±10% and scale 0.9-1.1, independently per image, in one grid_sample.

    `images` is a float batch (n, 1, 28, 28) with background 0. `strength` scales all three ranges
    (0.5: ±5°, ±5%, 0.95-1.05). `elastic` > 0 also bends each image by its own smooth random
    displacement field of at most that many pixels along each axis (`elastic_field`), in the same
    grid_sample.
    """
    n = images.shape[0]
    device = images.device
    rand = lambda: torch.rand(n, generator=generator, device=device)
    angle = (rand() * 2 - 1) * math.radians(ROTATION_DEG) * strength
    low, high = 1 + (SCALE[0] - 1) * strength, 1 + (SCALE[1] - 1) * strength
    scale = low + rand() * (high - low)
    # affine_grid works in [-1, 1] coordinates, so ±10% of the width is ±0.2.
    tx = (rand() * 2 - 1) * TRANSLATE * 2 * strength
    ty = (rand() * 2 - 1) * TRANSLATE * 2 * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    if elastic > 0:
        grid = grid + elastic_field(images.shape, elastic, generator, device).to(grid.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def elastic_field(
    shape: torch.Size | tuple[int, ...],
    pixels: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Smooth random displacements (n, h, w, 2) in grid_sample's [-1, 1] units, at most `pixels` px per axis.

    Elastic distortion as in Simard et al. (2003), batched: each image draws uniform displacements on
    a coarse ELASTIC_GRID x ELASTIC_GRID lattice, bilinearly upsampled to every pixel, which is as
    smooth as their Gaussian-filtered noise at this scale and costs one small interpolate.
    (torchvision's ElasticTransform applies one field to a whole batch, so it does not fit here.)
    """
    n, _, h, w = shape
    coarse = torch.rand(n, 2, ELASTIC_GRID, ELASTIC_GRID, generator=generator, device=device) * 2 - 1
    field = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)
    scale = torch.tensor([2.0 * pixels / w, 2.0 * pixels / h], device=field.device).view(1, 2, 1, 1)
    return (field * scale).permute(0, 2, 3, 1)


def random_erase(
    images: torch.Tensor, generator: torch.Generator | None = None, value: float = 0.0, p: float = ERASE_P
) -> torch.Tensor:
    """With probability `p` per image, blank one random rectangle (RandomErasing, vectorised)."""
    n, _, h, w = images.shape
    device = images.device
    rand = lambda: torch.rand(n, generator=generator, device=device)
    area = (ERASE_AREA[0] + rand() * (ERASE_AREA[1] - ERASE_AREA[0])) * h * w
    log_ratio = math.log(ERASE_RATIO[0]) + rand() * (math.log(ERASE_RATIO[1]) - math.log(ERASE_RATIO[0]))
    ratio = torch.exp(log_ratio)
    eh = torch.sqrt(area * ratio).round().clamp(1, h)
    ew = torch.sqrt(area / ratio).round().clamp(1, w)
    top = (rand() * (h - eh + 1)).floor()
    left = (rand() * (w - ew + 1)).floor()
    apply = rand() < p
    rows = torch.arange(h, device=device).view(1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, w)
    mask = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
        & apply.view(n, 1, 1)
    )
    return images.masked_fill(mask.unsqueeze(1), value)


def augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    erase_p: float = ERASE_P,
    elastic: float = 0.0,
    strength: float = 1.0,
) -> torch.Tensor:
    """The full training augmentation on a float batch in [0, 1] of shape (n, 1, 28, 28); erase_p 0: affine
    only; elastic > 0: plus an elastic distortion of up to that many pixels along each axis; strength
    scales the affine ranges."""
    moved = random_affine(images, generator, elastic, strength)
    return random_erase(moved, generator, p=erase_p) if erase_p > 0 else moved


def preview(image: torch.Tensor, n: int = 8, seed: int | None = None) -> torch.Tensor:
    """N augmented copies of one image (28x28 uint8 or float) as uint8 (n, 28, 28), for the app."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    source = image.float()
    if image.dtype == torch.uint8:
        source = source / 255.0
    batch = source.reshape(1, 1, 28, 28).expand(n, 1, 28, 28).contiguous()
    out = augment(batch, generator)
    return (out.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8)
