"""Latency of one canvas: preprocess, then prediction plus saliency, in ms (median over many), on the CPU.

    python benchmarks/predict_latency.py [--runs-dir runs] [--run RUN] [--quick]

The baseline, measured in the same run, is a bare forward pass of the model on one image; each line also
gives its ratio to that. Weights do not change the timing, so with no run the 3-layer model is used
untrained. Writes benchmarks/results/predict_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def timings(fn, repeats: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        began = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - began
    return out * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--run", default=None)
    parser.add_argument("--quick", action="store_true", help="100 repeats instead of 1000")
    args = parser.parse_args()

    import torch
    from predict_quality import hand_drawn

    from mnist_tui.analysis.predict import load_model
    from mnist_tui.analysis.preprocess import preprocess
    from mnist_tui.analysis.saliency import predict_with_saliency
    from mnist_tui.engine.batches import to_input
    from mnist_tui.engine.models import build_model
    from mnist_tui.runfolder.record import RunError

    try:
        loaded = load_model(args.runs_dir, args.run)
        model, source = loaded.model, str(loaded.run_dir)
    except RunError:
        model, source = build_model("3-layer").eval(), "untrained 3-layer (no run found)"
    canvas = hand_drawn(7, np.random.default_rng(0), 28)  # what the app's canvas hands over
    image = preprocess(canvas, invert=False)
    x = to_input(torch.from_numpy(image))
    repeats, warmup = (100, 10) if args.quick else (1000, 50)

    def forward():
        with torch.inference_mode():
            model(x)

    cases = {
        "forward only (baseline)": forward,
        "preprocess": lambda: preprocess(canvas, invert=False),
        "preprocess + predict + gradient": lambda: predict_with_saliency(
            model, preprocess(canvas, invert=False), "gradient"
        ),
        "preprocess + predict + smoothgrad(8)": lambda: predict_with_saliency(
            model, preprocess(canvas, invert=False), "smoothgrad", samples=8
        ),
        "preprocess + predict + smoothgrad(16)": lambda: predict_with_saliency(
            model, preprocess(canvas, invert=False), "smoothgrad", samples=16
        ),
    }
    print(f"model: {source}")
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        base = None
        rows = {}
        for name, fn in cases.items():
            ms = timings(fn, repeats, warmup)
            median = float(np.median(ms))
            base = base or median
            rows[name] = {
                "median_ms": round(median, 3),
                "p90_ms": round(float(np.percentile(ms, 90)), 3),
                "min_ms": round(float(ms.min()), 3),
                "ratio_to_forward": round(median / base, 2),
            }
            print(
                f"threads={threads}  {name:40s} median {median:7.2f} ms  p90 {rows[name]['p90_ms']:7.2f} ms  "
                f"min {rows[name]['min_ms']:6.2f} ms  x{rows[name]['ratio_to_forward']:.1f}"
            )
        results[f"threads{threads}"] = rows
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "predict_latency.json"
    out.write_text(
        json.dumps(
            {
                "model": source,
                "quick": args.quick,
                "repeats": repeats,
                "torch": torch.__version__,
                "machine": platform.platform(),
                "load_average": os.getloadavg(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
