"""MNIST preprocessing: polarity, crop, aspect ratio, centre of mass, blank images, and reading any image file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_tui.analysis.preprocess import (
    BlankImage,
    ImageError,
    bounding_box,
    center_of_mass,
    is_dark_on_light,
    load_image,
    preprocess,
)


def blob(h=100, w=80, rect=(10, 20, 60, 35), value=1.0, background=0.0) -> np.ndarray:
    """A filled rectangle (top, left, bottom, right) of ink on a plain background."""
    image = np.full((h, w), background, dtype=np.float32)
    top, left, bottom, right = rect
    image[top:bottom, left:right] = value
    return image


def ink_size(image28: np.ndarray) -> tuple[int, int]:
    top, left, bottom, right = bounding_box(image28, 0.5)
    return bottom - top, right - left


def test_dark_ink_on_light_background_is_inverted():
    light = blob(background=1.0, value=0.0)
    assert is_dark_on_light(light)
    assert not is_dark_on_light(blob())
    # either polarity gives the same white-on-black digit
    np.testing.assert_allclose(preprocess(light), preprocess(blob()), atol=1e-6)
    out = preprocess(light)
    assert out[0, 0] == 0 and out.max() == pytest.approx(1.0)


def test_uint8_and_float_inputs_agree():
    image = blob(value=1.0)
    np.testing.assert_allclose(preprocess((image * 255).astype(np.uint8)), preprocess(image), atol=1e-6)


@pytest.mark.parametrize("rect", [(5, 5, 40, 20), (60, 50, 95, 78), (30, 10, 45, 75), (0, 0, 100, 30)])
def test_centre_of_mass_lands_at_the_centre_within_a_pixel(rect):
    out = preprocess(blob(rect=rect))
    assert out.shape == (28, 28) and out.dtype == np.float32
    cy, cx = center_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_lopsided_digit_is_centred_by_mass_not_by_box():
    # a "7": a heavy top bar and a stem; its mass centre sits above the box centre
    image = np.zeros((200, 200), dtype=np.float32)
    image[20:40, 40:160] = 1
    image[40:180, 130:150] = 1
    out = preprocess(image)
    cy, cx = center_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    top, left, bottom, right = bounding_box(out, 0.5)
    assert (top + bottom) / 2 > 14.5  # the box is pushed down to bring the heavy bar to the centre


def test_too_lopsided_to_centre_is_clamped_not_cut():
    image = np.zeros((200, 200), dtype=np.float32)
    image[0:40, 0:200] = 1  # nearly all the mass in the top fifth of the box
    image[40:200, 95:100] = 0.2
    out = preprocess(image)
    top, left, bottom, right = bounding_box(out, 0.01)
    assert (top, bottom) == (8, 28)  # pushed as far down as the canvas allows
    assert center_of_mass(out)[0] < 14


def test_aspect_ratio_is_kept_and_the_long_side_is_20():
    tall = preprocess(blob(h=300, w=300, rect=(50, 100, 250, 150)))  # 200 x 50 -> 20 x 5
    assert ink_size(tall) == (20, 5)
    wide = preprocess(blob(h=40, w=40, rect=(10, 4, 16, 28)))  # 6 x 24 -> 5 x 20
    assert ink_size(wide) == (5, 20)
    # a small drawing on a 28x28 canvas is scaled up, not left small
    assert max(ink_size(preprocess(blob(h=28, w=28, rect=(10, 12, 18, 16))))) == 20


def test_thin_stroke_keeps_its_shape_when_scaled_down():
    # downscaling is anti-aliased: a 1-pixel diagonal on a big canvas becomes a soft, connected line
    image = np.zeros((400, 400), dtype=np.float32)
    for i in range(400):
        image[i, max(0, i - 2) : i + 2] = 1
    out = preprocess(image)
    top, left, bottom, right = bounding_box(out, 0.05)
    assert (bottom - top, right - left) == (20, 20)
    assert (out[top:bottom].max(axis=1) > 0.5).all()  # solid in every row: no gaps, not faded
    assert np.diff(out[top:bottom].argmax(axis=1)).tolist() == [1] * 19  # and still a diagonal


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((28, 28), dtype=np.float32),
        np.ones((28, 28), dtype=np.float32),
        np.full((64, 64), 0.5, dtype=np.float32),
        np.zeros((28, 28), dtype=np.uint8),
        np.zeros((0, 0), dtype=np.float32),
    ],
)
def test_blank_canvas_says_draw_a_digit(image):
    with np.errstate(all="raise"):  # and no division by zero on the way
        with pytest.raises(BlankImage, match="^draw a digit$"):
            preprocess(image)


def test_faint_noise_alone_is_blank():
    noise = np.random.default_rng(0).uniform(0, 0.05, size=(28, 28)).astype(np.float32)
    with pytest.raises(BlankImage):
        preprocess(noise)


def test_a_single_pixel_is_still_a_digit():
    image = np.zeros((28, 28), dtype=np.float32)
    image[3, 3] = 1
    out = preprocess(image)
    assert center_of_mass(out) == pytest.approx((14, 14), abs=1)


# ---------------------------------------------------------------- files


def digit_rgb(size=64, ink=(0, 0, 0), paper=(255, 255, 255)) -> Image.Image:
    image = Image.new("RGB", (size, size), paper)
    from PIL import ImageDraw

    ImageDraw.Draw(image).line([(size // 2, size // 6), (size // 2, size * 5 // 6)], fill=ink, width=max(2, size // 10))
    return image


def reference(tmp_path) -> np.ndarray:
    path = tmp_path / "ref.png"
    digit_rgb().convert("L").save(path)
    return preprocess(load_image(path))


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "I;16", "LA", "1", "CMYK"])
def test_any_mode_reads_as_grayscale(tmp_path, mode):
    base = digit_rgb()
    if mode == "I;16":
        image = Image.fromarray((np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
        assert image.mode == "I;16"
    else:
        image = base.convert(mode)
    path = tmp_path / ("digit.jpg" if mode == "CMYK" else "digit.png")
    image.save(path, **({"quality": 95} if mode == "CMYK" else {}))
    gray = load_image(path)
    assert gray.shape == (64, 64) and gray.dtype == np.float32
    assert gray.min() == pytest.approx(0, abs=0.03) and gray.max() == pytest.approx(1, abs=0.03)
    if mode == "CMYK":  # lossy JPEG: the same shape, give or take the pixel a rounding tie can move it
        out = preprocess(gray)
        assert ink_size(out) == ink_size(reference(tmp_path))
        assert center_of_mass(out) == pytest.approx((14, 14), abs=1)
    else:
        np.testing.assert_allclose(preprocess(gray), reference(tmp_path), atol=0.02)


def test_32_bit_integer_images_are_scaled_by_their_depth():
    from mnist_tui.analysis.preprocess import to_gray

    sixteen = Image.fromarray(np.array([[0, 65535]], dtype=np.int32), mode="I")
    eight = Image.fromarray(np.array([[0, 255]], dtype=np.int32), mode="I")
    assert to_gray(sixteen).tolist() == [[0, 1]] and to_gray(eight).tolist() == [[0, 1]]


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255), (200, 30, 30)])
def test_transparent_background_is_flattened_against_the_ink(tmp_path, ink):
    # strokes on a transparent canvas: what shows is the stroke, whatever its colour
    size = 64
    image = Image.new("RGBA", (size, size), (*ink, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(image).line([(size // 2, size // 6), (size // 2, size * 5 // 6)], fill=(*ink, 255), width=6)
    image.save(tmp_path / "alpha.png")
    out = preprocess(load_image(tmp_path / "alpha.png"))
    np.testing.assert_allclose(out, reference(tmp_path), atol=0.02)


def test_jpeg_photo_of_paper_is_read(tmp_path):
    digit_rgb(200, ink=(40, 40, 60), paper=(225, 220, 200)).save(tmp_path / "photo.jpg", quality=80)
    out = preprocess(load_image(tmp_path / "photo.jpg"))
    assert ink_size(out)[0] == 20
    assert abs(center_of_mass(out)[1] - 14) <= 1


def write_truncated_png(path):
    full = path.with_name("full.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(full)
    path.write_bytes(full.read_bytes()[:200])


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("text", "not an image"),
        ("empty", "empty file"),
        ("truncated", "truncated or corrupt"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, case, message):
    path = tmp_path / f"{case}.png"
    if case == "directory":
        path.mkdir()
    elif case == "text":
        path.write_text("hello, not a picture\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        write_truncated_png(path)
    with pytest.raises(ImageError) as info:
        load_image(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    digit_rgb().save(path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    # chmod 0 does not stop root (these tests may run as root), so refuse the open itself
    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageError, match=r"secret\.png: permission denied$"):
        load_image(path)


@pytest.mark.mnist
def test_mnist_digits_come_through_nearly_unchanged(mnist_dir):
    """MNIST's own digits already are 20x20-fitted and mass-centred: the conventions here must match theirs."""
    from mnist_tui.engine import data

    images = data.load_arrays(mnist_dir).test_images[:1000]
    out = np.stack([preprocess(image) for image in images])
    flipped = np.stack([preprocess(255 - image) for image in images[:100]])  # the same digits as dark-on-light
    np.testing.assert_allclose(flipped, out[:100], atol=1e-6)
    identical = np.abs(out - images / 255.0).reshape(len(images), -1).max(axis=1) < 1e-6
    assert identical.mean() > 0.8  # measured 0.85; the rest move by a pixel or lose a faint edge row
    assert np.abs(out - images / 255.0).mean() < 0.01
    centres = np.array([center_of_mass(image) for image in out])
    assert np.abs(centres - 14).max() <= 1
