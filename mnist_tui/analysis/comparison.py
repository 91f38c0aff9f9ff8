"""Runs side by side: their curves, test accuracy, size and speed, and the config fields that differ."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mnist_tui.common.fileio import load_json_object
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.names import run_label
from mnist_tui.runfolder.record import CONFIG, RunError, Summary, read_metrics, read_summary

# Fields that name where a run lived rather than how it trained.
IGNORED = {"runs_dir"}


@dataclass(frozen=True)
class RunColumn:
    name: str
    path: Path
    label: str  # model[-aug], what a legend shows
    test_acc: float | None
    val_acc: float | None
    params: int | None
    train_seconds: float | None
    images_per_sec: float | None  # training images per second of epoch time (validation passes included)
    history: list[dict] = field(default_factory=list)  # metrics.csv rows


@dataclass(frozen=True)
class Comparison:
    runs: list[RunColumn]
    differing: dict[str, list]  # config field -> its value in each run, for fields that are not all equal
    # Per run: why its config.json cannot be read (its values in `differing` are then None), else None.
    config_errors: list[str | None] = field(default_factory=list)


def _images_per_sec(config: dict, history: list[dict]) -> float | None:
    seconds = sum(row.get("seconds", 0.0) for row in history)
    train_images = (config.get("resolved") or {}).get("train_images")
    if not (seconds and train_images):
        return None
    fraction = float(config.get("epoch_fraction", 1.0))
    per_epoch = train_images if fraction >= 1.0 else max(1, int(round(train_images * fraction)))
    return per_epoch * len(history) / seconds


def _summary(path: Path) -> Summary:
    """summary.json, for a run that read_run calls unreadable (its config is bad, its summary fine)."""
    try:
        return read_summary(path) or Summary()
    except (OSError, ValueError):
        return Summary()


def _config_fields(config: dict) -> dict:
    """The recorded config with what it resolved to (device, precision) folded in as `resolved.*` fields."""
    flat = {k: v for k, v in config.items() if k != "resolved" and k not in IGNORED}
    for key, value in (config.get("resolved") or {}).items():
        flat[f"resolved.{key}"] = value
    return flat


def _read_config(path: Path) -> tuple[dict, str | None]:
    """A run's config.json, or ({}, why it cannot be read)."""
    try:
        return load_json_object(path / CONFIG), None
    except FileNotFoundError:
        return {}, f"{CONFIG} is missing"
    except (OSError, ValueError) as error:
        return {}, str(error) if isinstance(error, ValueError) else f"{CONFIG}: {error.strerror or error}"


def compare_runs(paths) -> Comparison:
    """Read each run folder (no torch): a column per run and the config fields whose values differ."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise RunError("a comparison needs at least two runs")
    if len({p.resolve() for p in paths}) < len(paths):
        raise RunError("the same run is listed twice; compare different runs")
    columns, configs, errors = [], [], []
    for path in paths:
        info = runs.read_run(path)
        if info is None:
            raise RunError(f"{path} is not a run folder")
        summary, (config, error) = _summary(path), _read_config(path)
        history = read_metrics(path)
        columns.append(
            RunColumn(
                info.name,
                path,
                run_label(info.model, info.augment),
                info.test_acc if info.test_acc is not None else summary.test_acc,
                info.val_acc if info.val_acc is not None else summary.val_acc,
                info.params or summary.params,
                info.train_seconds if info.train_seconds is not None else summary.train_seconds,
                _images_per_sec(config, history),
                history,
            )
        )
        configs.append(_config_fields(config))
        errors.append(error)
    readable = [c for c, e in zip(configs, errors) if e is None]  # an unreadable config differs in nothing it says
    keys = sorted({k for c in readable for k in c})
    differing = {
        k: [c.get(k) if e is None else None for c, e in zip(configs, errors)]
        for k in keys
        if len({repr(c.get(k)) for c in readable}) > 1
    }
    return Comparison(columns, differing, errors)


def config_notes(comparison: Comparison) -> list[str]:
    """One line per run whose config.json cannot be read, numbered as in the tables."""
    return [
        f"#{i} {column.name}: its config cannot be read ({error}), so its config fields are left out"
        for i, (column, error) in enumerate(zip(comparison.runs, comparison.config_errors), 1)
        if error
    ]


def curves(comparison: Comparison, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """{legend: (epochs, values)} of one metrics.csv column for every run; legends are numbered so two
    runs of the same model stay apart."""
    return {
        f"{i} {c.label}": ([r["epoch"] for r in c.history], [r[metric] for r in c.history])
        for i, c in enumerate(comparison.runs, 1)
    }


def table_rows(comparison: Comparison) -> list[list[str]]:
    from mnist_tui.common.text import pct

    return [
        [
            str(i),
            c.label,
            pct(c.test_acc),
            pct(c.val_acc),
            f"{c.params:,}" if c.params else "-",
            f"{c.train_seconds:.1f}" if c.train_seconds is not None else "-",
            f"{c.images_per_sec:,.0f}" if c.images_per_sec else "-",
            c.name,
        ]
        for i, c in enumerate(comparison.runs, 1)
    ]


TABLE_HEADERS = ["#", "model", "test acc", "best val", "params", "train s", "img/s", "run"]
IMG_S = "img/s: training images per second of epoch time, validation passes included"  # what the column means


def value_text(value) -> str:
    return "-" if value is None else str(value)


def format_comparison(comparison: Comparison) -> str:
    from mnist_tui.common.text import table

    lines = [table(TABLE_HEADERS, table_rows(comparison), "llrrrrrl"), ""]
    notes = config_notes(comparison)
    lines += notes
    unread = [bool(e) for e in comparison.config_errors] or [False] * len(comparison.runs)
    if len(unread) - sum(unread) < 2:
        lines.append(
            "no config fields to compare: only one run's config can be read"
            if len(unread) - sum(unread) == 1
            else "no config fields to compare: no run's config can be read"
        )
    elif comparison.differing:
        lines.append("config fields that differ:")
        lines.append(
            table(
                ["field"] + [f"#{i}" for i in range(1, len(comparison.runs) + 1)],
                [
                    [k] + ["?" if bad else value_text(v) for v, bad in zip(values, unread)]
                    for k, values in comparison.differing.items()
                ],
                "l" * (len(comparison.runs) + 1),
            )
        )
    else:
        lines.append("every config field is the same (only the run folders differ)")
    lines.append(f"\n{IMG_S}")
    return "\n".join(lines)
