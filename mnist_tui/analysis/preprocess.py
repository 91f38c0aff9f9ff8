"""MNIST-style preprocessing of any grayscale digit: polarity, crop to the ink, fit 20x20, centre by mass in 28x28."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

SIZE = 28  # MNIST canvas
BOX = 20  # MNIST digits are scaled to fit a 20x20 box ...
CENTER = 14.0  # ... and shifted so their centre of mass is at (14, 14), pixel centres at integer indices
INK_THRESHOLD = 0.05  # ink (0..1, after contrast stretch) above this counts for the bounding box
MIN_CONTRAST = 0.08  # less difference than this between background and darkest/brightest ink is a blank image
MAX_PIXELS = 4096 * 4096  # decoded at most: a 10000x10000 PNG of 120 KB would cost 2.5 GB and 12 s


class BlankImage(ValueError):
    """No ink to centre: nothing was drawn, or the image is one flat colour."""

    def __init__(self, message: str = "draw a digit"):
        super().__init__(message)


class ImageError(Exception):
    """An image file that cannot be read; the message is one line naming the file."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


# ---------------------------------------------------------------- reading files


def load_image(path: Path | str) -> np.ndarray:
    """Any PNG/JPEG (RGB, RGBA, palette, 16-bit, ...) as a float32 (h, w) grayscale array in [0, 1].

    The polarity is kept as it is in the file; `preprocess` decides whether to invert.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ImageError(path, "is a directory, not an image")
    if not path.exists():
        raise ImageError(path, "no such file")
    try:
        if path.stat().st_size == 0:
            raise ImageError(path, "empty file, not an image")
        with warnings.catch_warnings():  # Pillow warns above 89 MP; our own, lower limit speaks for it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as image:
            _reduce_while_decoding(path, image)
            image.load()  # decode now: a truncated file fails here, not later
            image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
            return to_gray(image)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(path, "not an image (PNG or JPEG expected)") from None
    except Image.DecompressionBombError:
        raise ImageError(path, "image too large to decode safely") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # Pillow's ways of saying "corrupt"
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(path, f"truncated or corrupt image ({detail})") from None


def _reduce_while_decoding(path: Path, image) -> None:
    """Keep what gets decoded under MAX_PIXELS: a JPEG decodes at 1/2, 1/4 or 1/8 scale (the digit needs far
    less than a photo's resolution); anything else that large is refused before a pixel is decoded."""
    width, height = image.size
    if width * height <= MAX_PIXELS:
        return
    if image.format == "JPEG":
        # draft picks the smallest scale at or above the size asked for, so ask for half the limit's side
        scale = math.sqrt(MAX_PIXELS / (width * height)) / 2
        image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
        width, height = image.size
        if width * height <= MAX_PIXELS:
            return
    raise ImageError(
        path,
        f"image too large: {width}x{height} is {width * height / 1e6:.0f} megapixels, "
        f"the limit is {MAX_PIXELS / 1e6:.0f}",
    )


def to_gray(image) -> np.ndarray:
    """A PIL image in any mode as float32 grayscale in [0, 1]."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return (np.asarray(image, dtype=np.float32) / 65535.0).clip(0, 1)
    if mode == "I":
        values = np.asarray(image, dtype=np.float32)
        # 16-bit PNGs open as "I" in some Pillow versions; 8-bit data converted to "I" stays <= 255
        return (values / (65535.0 if values.max() > 255 else 255.0)).clip(0, 1)
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max()) if values.size else 1.0
        return (values / top if top > 1 else values).clip(0, 1)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    mode = image.mode
    values = np.asarray(image, dtype=np.float32) / 255.0
    if mode == "L":
        return values
    if mode == "LA":
        gray, alpha = values[..., 0], values[..., 1]
    else:
        gray = values[..., 0] * 0.299 + values[..., 1] * 0.587 + values[..., 2] * 0.114  # ITU-R 601, as PIL's "L"
        alpha = values[..., 3] if mode == "RGBA" else None
    if alpha is None or alpha.min() >= 1.0:
        return gray
    return composite(gray, alpha)


def composite(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten transparency onto the background that contrasts with the ink.

    Dark strokes on a transparent canvas go onto white and light strokes onto black, so the shape
    drawn is what stays visible whichever colour it was drawn in.
    """
    weight = float(alpha.sum())
    ink = float((gray * alpha).sum() / weight) if weight > 0 else 0.0
    background = 1.0 if ink < 0.5 else 0.0
    return (gray * alpha + background * (1.0 - alpha)).astype(np.float32)


# ---------------------------------------------------------------- MNIST preprocessing


def as_float(image) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    return np.nan_to_num(array.astype(np.float32)).clip(0, 1)


def border(image: np.ndarray) -> np.ndarray:
    if min(image.shape) < 3:
        return image.ravel()
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def is_dark_on_light(image) -> bool:
    """True when the background (the median of the outer frame, which is mostly background) is light."""
    return bool(np.median(border(as_float(image))) > 0.5)


def ink_map(image, invert: bool | None = None) -> np.ndarray:
    """Ink as white on black in [0, 1]: inverted if need be, background removed, strongest ink stretched to 1.

    Photos of paper have a grey background and grey ink; MNIST has 0 and 1. Raises BlankImage when
    nothing stands out from the background.
    """
    x = as_float(image)
    if x.size == 0:
        raise BlankImage()
    if invert is None:
        invert = is_dark_on_light(x)
    if invert:
        x = 1.0 - x
    background = float(np.median(border(x)))
    peak = float(x.max())
    if peak - background < MIN_CONTRAST:
        raise BlankImage()
    return ((x - background) / (peak - background)).clip(0, 1)


def bounding_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), exclusive, of the pixels above `threshold`."""
    mask = ink > threshold
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        raise BlankImage()
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def fit_box(ink: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is `box` pixels, keeping the aspect ratio, anti-aliased."""
    from PIL import Image

    h, w = ink.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return ink.astype(np.float32)
    # Lanczos averages over the source when shrinking (anti-aliasing); bilinear keeps upscaled strokes soft,
    # like MNIST's
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    scaled = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, resample), dtype=np.float32)
    scaled = scaled.clip(0, 1)  # Lanczos rings slightly below 0 and above 1
    peak = float(scaled.max())
    # a thin pen line shrunk 20-fold fades to grey; MNIST strokes are solid, so bring the peak back to 1
    return scaled / peak if peak > 0 else scaled


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, col) in index coordinates, pixel centres at integers."""
    total = float(image.sum())
    if total <= 0:
        raise BlankImage()
    rows, cols = np.indices(image.shape, dtype=np.float64)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def center_by_mass(patch: np.ndarray, size: int = SIZE, center: float = CENTER) -> np.ndarray:
    """Paste `patch` into a size x size canvas, shifted by whole pixels so its centre of mass is nearest `center`.

    A patch too lopsided to centre without leaving the canvas is clamped at the edge, so no ink is cut off.
    """
    h, w = patch.shape
    cy, cx = center_of_mass(patch)
    top = min(max(round(center - cy), 0), size - h)
    left = min(max(round(center - cx), 0), size - w)
    out = np.zeros((size, size), dtype=np.float32)
    out[top : top + h, left : left + w] = patch
    return out


def preprocess(image, invert: bool | None = None, threshold: float = INK_THRESHOLD) -> np.ndarray:
    """Any grayscale digit (uint8, or float in [0, 1]; any size; either polarity) -> MNIST-like float32 (28, 28).

    `invert=None` detects dark ink on a light background. Raises BlankImage ("draw a digit") when there is no ink.
    """
    ink = ink_map(image, invert)
    top, left, bottom, right = bounding_box(ink, threshold)
    return center_by_mass(fit_box(ink[top:bottom, left:right]))


def preprocess_file(path: Path | str) -> np.ndarray:
    """`load_image` then `preprocess`; a blank file is an ImageError naming it."""
    try:
        return preprocess(load_image(path))
    except BlankImage:
        raise ImageError(path, "blank image, no digit found") from None
