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


def random_affine(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate ±10°, translate ±10% and scale 0.9-1.1, independently per image, in one grid_sample.

    `images` is a float batch (n, 1, 28, 28) with background 0.
    """
    n = images.shape[0]
    device = images.device
    rand = lambda: torch.rand(n, generator=generator, device=device)  # noqa: E731
    angle = (rand() * 2 - 1) * math.radians(ROTATION_DEG)
    scale = SCALE[0] + rand() * (SCALE[1] - SCALE[0])
    # affine_grid works in [-1, 1] coordinates, so ±10% of the width is ±0.2.
    tx = (rand() * 2 - 1) * TRANSLATE * 2
    ty = (rand() * 2 - 1) * TRANSLATE * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_erase(images: torch.Tensor, generator: torch.Generator | None = None, value: float = 0.0,
                 p: float = ERASE_P) -> torch.Tensor:
    """With probability `p` per image, blank one random rectangle (RandomErasing, vectorised)."""
    n, _, h, w = images.shape
    device = images.device
    rand = lambda: torch.rand(n, generator=generator, device=device)  # noqa: E731
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
        (rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1))
        & apply.view(n, 1, 1)
    )
    return images.masked_fill(mask.unsqueeze(1), value)


def augment(images: torch.Tensor, generator: torch.Generator | None = None, erase_p: float = ERASE_P) -> torch.Tensor:
    """The full training augmentation on a float batch in [0, 1] of shape (n, 1, 28, 28); erase_p 0: affine only."""
    moved = random_affine(images, generator)
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
