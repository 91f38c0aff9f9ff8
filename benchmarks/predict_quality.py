"""Prediction quality on digits a user would give it: stroke-drawn canvases and MNIST test digits saved as PNG files.

    python benchmarks/predict_quality.py --runs-dir runs [--run RUN] [--quick]

(a) Digits drawn from strokes (polylines with a soft brush on a 28x28 and a 64x64 canvas, jittered like
    a hand) go through `preprocess` and the model; the same canvases fed raw show why preprocessing matters.
(b) MNIST test digits are saved as dark-on-light PNGs at 28, 64 and 200 px (8-bit gray, RGB and 16-bit
    gray) and predicted by the `mnist-tui predict` command; the baseline, in the same run, is the model
    on the original arrays. Target: within 0.5 percentage points.

Writes benchmarks/results/predict_quality.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

# Each digit: styles, each a list of strokes, each a polyline in a unit box (x right, y down).


def ellipse(cx, cy, rx, ry, start=0.0, end=360.0, n=24):
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(start, end, n)
    ]


TEMPLATES: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[ellipse(0.5, 0.5, 0.3, 0.45)], [ellipse(0.5, 0.5, 0.22, 0.46, -80, 285)]],
    1: [[[(0.5, 0.05), (0.5, 0.95)]], [[(0.3, 0.22), (0.55, 0.05), (0.5, 0.95)]]],
    2: [
        [[(0.2, 0.25), (0.32, 0.1), (0.5, 0.05), (0.7, 0.1), (0.78, 0.27), (0.7, 0.45), (0.2, 0.95), (0.85, 0.95)]],
        [[(0.2, 0.2), (0.45, 0.05), (0.72, 0.15), (0.7, 0.4), (0.3, 0.8), (0.2, 0.95), (0.5, 0.85), (0.85, 0.92)]],
    ],
    3: [
        [
            [
                (0.2, 0.12),
                (0.5, 0.03),
                (0.75, 0.15),
                (0.72, 0.35),
                (0.45, 0.48),
                (0.75, 0.6),
                (0.8, 0.8),
                (0.55, 0.97),
                (0.2, 0.88),
            ]
        ],
        [[(0.2, 0.05), (0.78, 0.05), (0.45, 0.42), (0.75, 0.55), (0.78, 0.8), (0.5, 0.97), (0.2, 0.9)]],
    ],
    4: [
        [[(0.65, 0.95), (0.65, 0.05), (0.12, 0.65), (0.85, 0.65)]],
        [[(0.22, 0.05), (0.15, 0.6), (0.85, 0.6)], [(0.65, 0.25), (0.65, 0.95)]],
    ],
    5: [
        [[(0.78, 0.05), (0.3, 0.05), (0.25, 0.45), (0.55, 0.38), (0.78, 0.55), (0.75, 0.82), (0.5, 0.97), (0.2, 0.88)]],
        [
            [(0.3, 0.05), (0.25, 0.45), (0.55, 0.38), (0.78, 0.55), (0.75, 0.82), (0.5, 0.97), (0.2, 0.88)],
            [(0.3, 0.05), (0.8, 0.05)],
        ],
    ],
    6: [
        [
            [
                (0.7, 0.05),
                (0.42, 0.25),
                (0.25, 0.6),
                (0.3, 0.88),
                (0.5, 0.97),
                (0.72, 0.85),
                (0.72, 0.62),
                (0.5, 0.5),
                (0.28, 0.62),
            ]
        ],
        [[(0.6, 0.02), (0.3, 0.45)] + ellipse(0.5, 0.72, 0.24, 0.24, 200, 560)],
    ],
    7: [
        [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
        [[(0.15, 0.12), (0.2, 0.05), (0.85, 0.05), (0.6, 0.5), (0.5, 0.95)], [(0.35, 0.5), (0.8, 0.5)]],
    ],
    8: [
        [ellipse(0.5, 0.27, 0.22, 0.22), ellipse(0.5, 0.72, 0.27, 0.25)],
        [
            [
                (0.75, 0.15),
                (0.5, 0.03),
                (0.25, 0.18),
                (0.35, 0.38),
                (0.7, 0.6),
                (0.75, 0.85),
                (0.5, 0.97),
                (0.25, 0.85),
                (0.3, 0.6),
                (0.65, 0.38),
                (0.72, 0.2),
            ]
        ],
    ],
    9: [
        [ellipse(0.48, 0.3, 0.26, 0.25), [(0.74, 0.3), (0.7, 0.95)]],
        [ellipse(0.5, 0.28, 0.25, 0.23, 0, 360), [(0.75, 0.28), (0.6, 0.65), (0.4, 0.95)]],
    ],
}


def segment_distance(px, py, a, b):
    """Distance from every pixel centre to the segment a-b."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.zeros_like(px) if length2 == 0 else np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def draw_strokes(strokes, size: int, radius: float) -> np.ndarray:
    """A soft round brush along polylines (pixel coordinates): full ink within `radius`, fading over one pixel."""
    py, px = np.indices((size, size), dtype=np.float64) + 0.5
    distance = np.full((size, size), np.inf)
    for stroke in strokes:
        for a, b in zip(stroke, stroke[1:]):
            distance = np.minimum(distance, segment_distance(px, py, a, b))
    return np.clip(radius + 0.5 - distance, 0, 1).astype(np.float32)


def hand_drawn(digit: int, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """One jittered rendition of a template, placed off-centre at a random size, as a user would draw it."""
    styles = TEMPLATES[digit]
    strokes = styles[rng.integers(len(styles))]
    angle = math.radians(rng.uniform(-12, 12))
    shear = rng.uniform(-0.25, 0.1)  # people lean right more than left
    height = size * rng.uniform(0.45, 0.85)
    width = height * rng.uniform(0.75, 1.05)
    cx = size / 2 + rng.uniform(-0.15, 0.15) * size
    cy = size / 2 + rng.uniform(-0.12, 0.12) * size
    cos, sin = math.cos(angle), math.sin(angle)
    placed = []
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = x + rng.normal(0, 0.018), y + rng.normal(0, 0.018)  # a shaky hand
            x, y = (x - 0.5) + shear * (0.5 - y), y - 0.5
            x, y = x * width, y * height
            points.append((cx + cos * x - sin * y, cy + sin * x + cos * y))
        placed.append(points)
    radius = rng.uniform(0.7, 1.4) * size / 28
    return draw_strokes(placed, size, radius)


def stroke_benchmark(model, per_digit: int, seed: int = 0) -> dict:
    from mnist_tui.analysis.predict import predict_probs
    from mnist_tui.analysis.preprocess import preprocess

    rng = np.random.default_rng(seed)
    out = {}
    for size in (28, 64):
        canvases, labels = [], []
        for digit in range(10):
            for _ in range(per_digit):
                canvases.append(hand_drawn(digit, rng, size))
                labels.append(digit)
        labels = np.array(labels)
        processed = np.stack([preprocess(c, invert=False) for c in canvases])
        hits = predict_probs(model, processed).argmax(1) == labels
        entry = {
            "images": len(labels),
            "accuracy": float(hits.mean()),
            "per_digit": [float(hits[labels == d].mean()) for d in range(10)],
        }
        if size == 28:  # the raw canvas, as drawn, without preprocessing
            entry["accuracy_without_preprocess"] = float(
                (predict_probs(model, np.stack(canvases)).argmax(1) == labels).mean()
            )
        out[f"canvas{size}"] = entry
    return out


def save_pngs(images: np.ndarray, folder: Path, size: int, mode: str) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        picture = Image.fromarray(255 - image)  # dark ink on light paper
        if size != 28:
            picture = picture.resize((size, size), Image.Resampling.BICUBIC)
        if mode == "RGB":
            picture = picture.convert("RGB")
        elif mode == "I;16":
            picture = Image.fromarray(np.asarray(picture, dtype=np.uint16) * 257)
        path = folder / f"{i:05d}.png"
        picture.save(path)
        paths.append(path)
    return paths


def cli_predictions(paths: list[Path], run_dir: Path, chunk: int = 2500) -> tuple[list[int], float]:
    """Run `mnist-tui predict --json` over the files (in chunks, to stay under the argument-length limit)."""
    predictions, seconds = [], 0.0
    command = [sys.executable, "-m", "mnist_tui", "predict", "--json", "--run", str(run_dir)]
    for start in range(0, len(paths), chunk):
        began = time.perf_counter()
        done = subprocess.run(command + [str(p) for p in paths[start : start + chunk]], capture_output=True, text=True)
        seconds += time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"mnist-tui predict failed: {done.stderr.strip()[:500]}")
        predictions += [r["prediction"] for r in json.loads(done.stdout)["results"]]
    return predictions, seconds


def png_benchmark(model, run_dir: Path, count: int) -> dict:
    from mnist_tui.analysis.predict import predict_probs
    from mnist_tui.analysis.preprocess import preprocess
    from mnist_tui.engine import data

    arrays = data.load_arrays()
    images, labels = arrays.test_images[:count], arrays.test_labels[:count].astype(int)
    original = float((predict_probs(model, images).argmax(1) == labels).mean())
    in_memory = np.stack([preprocess(i) for i in images])
    result = {
        "images": count,
        "original_accuracy": original,
        "original_preprocessed_accuracy": float((predict_probs(model, in_memory).argmax(1) == labels).mean()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size, mode in ((28, "L"), (64, "RGB"), (200, "I;16")):
            paths = save_pngs(images, Path(tmp) / str(size), size, mode)
            predictions, seconds = cli_predictions(paths, run_dir)
            accuracy = float((np.array(predictions) == labels).mean())
            result[f"png{size}"] = {
                "mode": mode,
                "accuracy": accuracy,
                "delta_pp": round((accuracy - original) * 100, 3),
                "cli_seconds": round(seconds, 1),
            }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--run", default=None, help="run folder or prefix (default: the default or best run)")
    parser.add_argument("--quick", action="store_true", help="30 drawn digits per canvas and 500 PNGs per size")
    args = parser.parse_args()

    from mnist_tui.analysis.predict import load_model

    loaded = load_model(args.runs_dir, args.run)
    per_digit, count = (3, 500) if args.quick else (10, 10_000)
    print(f"run: {loaded.run_dir}")
    strokes = stroke_benchmark(loaded.model, per_digit)
    for name, entry in strokes.items():
        extra = (
            f"; raw canvas without preprocessing {entry['accuracy_without_preprocess']:.1%}"
            if "accuracy_without_preprocess" in entry
            else ""
        )
        print(f"stroke-drawn, {name}: {entry['accuracy']:.1%} of {entry['images']}{extra}")
    pngs = png_benchmark(loaded.model, loaded.run_dir, count)
    print(
        f"MNIST test originals: {pngs['original_accuracy']:.2%} of {count} "
        f"(preprocessed in memory: {pngs['original_preprocessed_accuracy']:.2%})"
    )
    for size in (28, 64, 200):
        entry = pngs[f"png{size}"]
        print(
            f"  dark-on-light PNG {size}px {entry['mode']}: {entry['accuracy']:.2%} ({entry['delta_pp']:+.2f} pp) "
            f"via mnist-tui predict in {entry['cli_seconds']}s"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "predict_quality.json"
    out.write_text(
        json.dumps(
            {
                "run": str(loaded.run_dir),
                "model": loaded.checkpoint.get("model_name"),
                "quick": args.quick,
                "machine": platform.platform(),
                "load_average": os.getloadavg(),
                "strokes": strokes,
                "pngs": pngs,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
