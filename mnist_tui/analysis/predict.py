"""Predicting digits in image files with a recorded run: model choice and batch prediction (the `predict`
command itself is in cli.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# numpy, torch and the model code load inside the functions that need them, so importing this module is cheap


def choose_run(runs_dir: Path | str = "runs", run: str | None = None) -> Path:
    """The run named by `run` (folder or name prefix), else the run marked default, else the best finished one."""
    return choose_run_why(runs_dir, run)[0]


def choose_run_why(runs_dir: Path | str = "runs", run: str | None = None) -> tuple[Path, str]:
    """`choose_run`, with the rule that chose it in a few words ("marked default in .../DEFAULT")."""
    from mnist_tui.common.places import no_runs, runs_place
    from mnist_tui.common.text import pct
    from mnist_tui.runfolder.record import RunError
    from mnist_tui.runfolder.runs import DEFAULT_MARK, default_run, list_runs, marked_default, resolve_run
    from mnist_tui.runfolder.status import Status

    if run:
        return resolve_run(runs_dir, run), "named with --run"
    listed = list_runs(runs_dir)
    info = default_run(runs_dir, listed)
    if info is None:
        training = [r.name for r in listed if r.status == Status.RUNNING]
        if training:  # as in evaluate, a run still training can be named: its best checkpoint so far answers
            raise RunError(
                f"no finished run in {runs_place(runs_dir)}; still training: {', '.join(training)}. Wait for "
                "one to finish, or use its best checkpoint so far with --run NAME"
            )
        raise RunError(no_runs(runs_dir, "no trained model") + "; train one first with `mnist-tui train`")
    marked = marked_default(runs_dir)
    if marked == info.name:
        return info.path, f"marked default in {runs_place(runs_dir)}/{DEFAULT_MARK}"
    scored = sum(1 for r in listed if r.usable and r.test_acc is not None)
    why = f"the best test accuracy, {pct(info.test_acc)}, of {scored} finished run{'s' if scored != 1 else ''}"
    if marked:
        return info.path, f"{why}; the run marked default, {marked}, has no usable checkpoint"
    return info.path, f"{why}; no run is marked default"


@dataclass(frozen=True)
class LoadedModel:
    model: object  # torch.nn.Module in eval mode
    checkpoint: dict
    run_dir: Path
    run: object = None  # inference.RunModel: the model with the recipe its test score used
    why: str = ""  # the rule that chose the run (see choose_run_why)


def load_model(runs_dir: Path | str = "runs", run: str | None = None, device: str = "cpu") -> LoadedModel:
    from mnist_tui.training.inference import load_run

    run_dir, why = choose_run_why(runs_dir, run)
    loaded = load_run(run_dir, device)
    return LoadedModel(loaded.model, loaded.checkpoint, Path(run_dir), loaded, why)


def predict_probs(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities (n, 10) for preprocessed float [0, 1] or uint8 images (n, 28, 28).

    `model` is an `inference.RunModel` (scored as its run was: precision, TTA, normalisation) or a
    bare model (fp32, no TTA, the MNIST normalisation); either way through `inference.run_logits`."""
    import numpy as np  # lazily: the CLI parser stays light

    from mnist_tui.training.inference import as_run, run_probs

    images = np.asarray(images)
    if not len(images):
        return np.zeros((0, 10), dtype=np.float32)
    return run_probs(as_run(model), np.array(images, dtype=np.uint8 if images.dtype == np.uint8 else np.float32))


@dataclass(frozen=True)
class FileResult:
    path: str
    probs: np.ndarray | None = None  # (10,) when the file was read
    image: np.ndarray | None = None  # the preprocessed 28x28 input
    error: str | None = None  # one line naming the file, when it was not

    @property
    def top(self) -> int:
        return int(self.probs.argmax())

    def ranked(self, k: int) -> list[tuple[int, float]]:
        import numpy as np

        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(int(d), float(self.probs[d])) for d in order]


def predict_files(model, paths, batch_size: int = 256) -> list[FileResult]:
    """Read, preprocess and predict each file; a bad file gets its error and the others are still predicted."""
    import numpy as np

    from mnist_tui.analysis.preprocess import ImageError, preprocess_file

    results: list[FileResult] = []
    images, ok = [], []
    for path in paths:
        try:
            image = preprocess_file(path)
        except ImageError as error:
            results.append(FileResult(str(path), error=str(error)))
            continue
        ok.append(len(results))
        images.append(image)
        results.append(FileResult(str(path), image=image))
    if images:
        probs = predict_probs(model, np.stack(images), batch_size)
        for i, p in zip(ok, probs):
            results[i] = FileResult(results[i].path, p, results[i].image)
    return results
