"""Which saliency map points at the digit: the share of each map's mass that lies on the digit's ink.

    python benchmarks/saliency_quality.py RUN [RUN ...] [--runs-dir runs] [--images 100]

For the first N real MNIST test digits, each method's map (for the predicted class) is summed over the
ink pixels and divided by its total. Ink is a pixel at half brightness or more; "near ink" also counts
the faint rim (any pixel above 0.1). The baseline in the same run is a flat map, whose share is simply
the fraction of pixels that are ink. Gradient x input is zero on blank pixels by construction (the
pixel is 0), so its "near ink" share is near 1 by definition; the second baseline, the image itself used
as a map, shows how much of its score comes from that alone.

Writes benchmarks/results/saliency_quality.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write

from mnist_tui.analysis.saliency import METHODS, predict_with_saliency
from mnist_tui.engine.data import default_data_dir, load_arrays
from mnist_tui.runfolder.checkpoint import load_checkpoint
from mnist_tui.runfolder.runs import resolve_run

INK = 0.5  # a pixel at half brightness or more is the digit's ink
NEAR_INK = 0.1  # any visible pixel, the anti-aliased rim included


def ink_share(saliency: np.ndarray, mask: np.ndarray) -> float:
    total = float(saliency.sum())
    return float(saliency[mask].sum()) / total if total > 0 else 0.0


def measure(model, images: np.ndarray) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, list[float]]] = {
        name: {"ink": [], "near_ink": []} for name in [*METHODS, "flat map", "the image itself"]
    }
    for image in images:
        pixels = image.astype(np.float32) / 255.0
        ink, near = pixels >= INK, pixels > NEAR_INK
        for method in METHODS:
            saliency = predict_with_saliency(model, image, method=method).saliency
            rows[method]["ink"].append(ink_share(saliency, ink))
            rows[method]["near_ink"].append(ink_share(saliency, near))
        for name, baseline in (("flat map", np.ones_like(pixels)), ("the image itself", pixels)):
            rows[name]["ink"].append(ink_share(baseline, ink))
            rows[name]["near_ink"].append(ink_share(baseline, near))
    return {name: {k: statistics.mean(v) for k, v in shares.items()} for name, shares in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders or name prefixes")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    arrays = load_arrays(args.data_dir or default_data_dir())
    if arrays.synthetic:
        raise SystemExit("saliency_quality needs real MNIST (mnist-tui data fetch)")
    images = arrays.test_images[: args.images]
    results = {}
    for ref in args.runs:
        run_dir = resolve_run(args.runs_dir, ref)
        model, checkpoint = load_checkpoint(run_dir)
        shares = measure(model, images)
        results[run_dir.name] = {"model": checkpoint.get("model_name"), "shares": shares}
        print(f"\n{run_dir.name} ({checkpoint.get('model_name')}), {len(images)} test digits: mean share of saliency")
        print(
            table(
                ["method", "on ink (>= 0.5)", "on or near ink (> 0.1)"],
                [[METHODS.get(name, name), f"{s['ink']:.1%}", f"{s['near_ink']:.1%}"] for name, s in shares.items()],
                "lrr",
            )
        )
    path = write(
        "saliency_quality",
        {"images": len(images), "ink_threshold": INK, "near_ink_threshold": NEAR_INK, "runs": results},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
