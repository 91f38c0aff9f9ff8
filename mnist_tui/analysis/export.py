"""Taking a model out: one self-contained ONNX file per run, with the normalisation inside, checked by onnxruntime."""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_tui.runfolder.record import Summary, read_summary

PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INSTALL = "pip install 'mnist-tui[export]'  (or: pip install onnx onnxscript onnxruntime)"
INPUT_DESCRIPTION = (
    "image: float32 (N, 1, 28, 28), pixels in [0, 1] (divide 8-bit values by 255), "
    "a white digit on black as in MNIST; the normalisation is inside the graph"
)
OPSET = 18
CHECK_BATCH = 1000  # onnxruntime and PyTorch compare the test set in batches of this many images


def missing_packages() -> list[str]:
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def graph_module(run):
    """The run's model behind a wrapper that takes pixels in [0, 1]: it normalises them as the checkpoint
    recorded and, for a run tested with TTA, averages the logits over the same one-pixel shifts."""
    import torch
    import torch.nn.functional as F

    from mnist_tui.engine.evaluate import TTA_SHIFTS

    class Exported(torch.nn.Module):
        def __init__(self, model, normalization: tuple[float, float], shifts: tuple[tuple[int, int], ...]):
            super().__init__()
            self.model = model
            self.mean, self.std = normalization
            self.shifts = shifts
            self.background = (0.0 - self.mean) / self.std  # a black pixel after normalisation

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = (image - self.mean) / self.std
            if len(self.shifts) == 1:
                return self.model(x)
            # a one-pixel border of black, then a 28x28 window moved by (dy, dx): the image shifted
            padded = F.pad(x, (1, 1, 1, 1), value=self.background)
            views = [padded[:, :, 1 - dy : 29 - dy, 1 - dx : 29 - dx] for dy, dx in self.shifts]
            return sum(self.model(v) for v in views) / len(views)

    shifts = TTA_SHIFTS if run.recipe.tta else ((0, 0),)
    return Exported(run.model.float().eval(), run.recipe.normalization, shifts).eval()


@dataclass(frozen=True)
class ExportReport:
    path: Path
    size_bytes: int
    images: int  # test images run through both
    agree: int  # of them, how many have the same argmax in onnxruntime and PyTorch
    max_abs_diff: float  # largest absolute logit difference
    onnx_acc: float  # onnxruntime's test accuracy
    recorded_acc: float | None  # summary.json's
    tta: bool
    precision: str  # what the run was tested in; the graph is fp32

    @property
    def agreement(self) -> float:
        return self.agree / self.images if self.images else 1.0


def export_run(run_dir: Path | str, out: Path | str | None = None, data_dir=None) -> ExportReport:
    """Write the run's model to `out` (default: model.onnx in the run) and check it against PyTorch on the test set."""
    import onnx
    import torch

    from mnist_tui.engine.splits import load_splits
    from mnist_tui.training.inference import load_run, run_logits

    run = load_run(run_dir)
    run_dir = Path(run.run_dir)
    out = Path(out) if out else run_dir / "model.onnx"
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: the output file should end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    module = graph_module(run)
    example = torch.rand(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        module,
        (example,),
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes={"image": {0: batch}},
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    program.optimize()  # constant folding: BN folded into the convs where the optimizer can
    proto = program.model_proto
    try:
        recorded = (read_summary(run_dir) or Summary()).test_acc
    except (OSError, ValueError):
        recorded = None
    onnx.helper.set_model_props(
        proto,
        {
            "run": run_dir.name,
            "model": run.name,
            "test_accuracy": f"{recorded:.4f}" if recorded is not None else "not tested",
            "labels": ",".join(str(d) for d in range(10)),
            "input": INPUT_DESCRIPTION,
            "output": "logits: float32 (N, 10), one per digit 0-9; softmax gives probabilities",
            "test_time_augmentation": "mean logits over the image and its 1-pixel shifts" if run.recipe.tta else "none",
            "normalization": f"mean {run.recipe.normalization[0]}, std {run.recipe.normalization[1]}",
        },
    )
    proto.doc_string = f"mnist-tui {run.name} from run {run_dir.name}. {INPUT_DESCRIPTION}."
    onnx.checker.check_model(proto)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save_model(proto, str(tmp))  # one file: every weight inside it
    tmp.replace(out)
    splits = load_splits(data_dir or run.checkpoint.get("config", {}).get("data_dir") or None)
    onnx_logits = onnx_run(out, splits.test_x.numpy())
    fp32 = dataclasses.replace(run, recipe=dataclasses.replace(run.recipe, precision="fp32"))
    torch_logits = run_logits(fp32, splits.test_x).numpy()
    labels = splits.test_y.numpy()
    return ExportReport(
        path=out,
        size_bytes=out.stat().st_size,
        images=len(labels),
        agree=int((onnx_logits.argmax(1) == torch_logits.argmax(1)).sum()),
        max_abs_diff=float(np.abs(onnx_logits - torch_logits).max()) if len(labels) else 0.0,
        onnx_acc=float((onnx_logits.argmax(1) == labels).mean()) if len(labels) else 0.0,
        recorded_acc=recorded,
        tta=run.recipe.tta,
        precision=run.recipe.precision,
    )


def onnx_run(path: Path | str, images: np.ndarray) -> np.ndarray:
    """Logits from onnxruntime's CPU provider for uint8 images (n, 28, 28), fed as the graph expects them."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = []
    for start in range(0, len(images), CHECK_BATCH):
        x = images[start : start + CHECK_BATCH].astype(np.float32).reshape(-1, 1, 28, 28) / 255.0
        outputs.append(session.run(["logits"], {"image": x})[0])
    return np.concatenate(outputs) if outputs else np.zeros((0, 10), np.float32)
