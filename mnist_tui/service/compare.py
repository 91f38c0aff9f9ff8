"""The reference comparison: 1-layer, 2-layer, 3-layer and 3-layer with augmentation, trained in parallel."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from mnist_tui.engine.config import TrainConfig
from mnist_tui.runfolder.record import Summary

REFERENCE = (("1-layer", False), ("2-layer", False), ("3-layer", False), ("3-layer", True))


def reference_configs(base: TrainConfig, jobs: int) -> list[TrainConfig]:
    """The four configurations, each with threads so that jobs x threads <= cores."""
    from mnist_tui.engine.config import make_config
    from mnist_tui.engine.device import threads_per_process

    threads = threads_per_process(jobs, base.threads)
    shared = {k: v for k, v in base.to_dict().items() if k not in ("model", "augment", "threads", "preset")}
    return [
        make_config(model, augment=augment, threads=threads, **{k: v for k, v in shared.items() if v is not None})
        for model, augment in REFERENCE
    ]


TABLE_HEADERS = ("model", "params", "epochs", "best val acc", "test acc", "seconds", "status")


def table_cells(rows: list[dict]) -> list[list[str]]:
    """The comparison table's cells, as the CLI prints them and Compare shows them."""
    from mnist_tui.common.text import pct

    return [
        [
            r["model"],
            f"{r['params']:,}" if r["params"] else "-",
            str(r["epochs"]) if r["epochs"] is not None else "-",
            pct(r["best_val_acc"]),
            pct(r["test_acc"]),
            f"{r['seconds']:.1f}" if r["seconds"] else "-",
            r["status"],
        ]
        for r in rows
    ]


def compare_rows(ended: list[tuple[Summary, str | None]]) -> list[dict]:
    """The comparison table's rows (and compare.json's), from each run's summary and folder."""
    return [
        {
            "model": s.model + ("-aug" if s.augment else ""),
            "params": s.params,
            "epochs": s.epochs_run,
            "best_val_acc": s.val_acc,
            "test_acc": s.test_acc,
            "seconds": s.train_seconds,
            "status": s.status,
            "run_dir": run_dir,
        }
        for s, run_dir in ended
    ]


def run_compare(
    base: TrainConfig, jobs: int, report: Callable[[str, object], None] | None = None, service=None
) -> tuple[list[dict], Path | OSError]:
    """Train the four reference configs through the TrainingService; return the table rows and compare.json
    (or the OSError that kept it from being written: the table is still worth showing)."""
    from mnist_tui.service.worker import TrainingService

    own = service is None
    service = service or TrainingService(max_jobs=jobs)
    started = time.time()
    try:
        ids = [service.start(config) for config in reference_configs(base, jobs)]
        for event in service.iter_events():
            if report:
                report(event.run_id, event)
    except KeyboardInterrupt:
        service.cancel_all()
        service.wait(5)
        raise
    finally:
        if own:
            service.close()
    ended = []
    for run_id in ids:
        handle = service.get(run_id)
        summary = handle.summary or Summary(model=handle.config.model, augment=handle.config.augment)
        ended.append((dataclasses.replace(summary, status=handle.status), handle.run_dir))
    rows = compare_rows(ended)
    try:
        return rows, write_report(base.runs_dir, rows, jobs, started)
    except OSError as error:
        return rows, error


def write_report(runs_dir, rows: list[dict], jobs: int, started: float) -> Path:
    """compare.json next to the runs: the table, when it started and how long it took."""
    from mnist_tui.runfolder.record import write_json

    path = Path(runs_dir) / "compare.json"
    write_json(
        path,
        {
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "jobs": jobs,
            "wall_seconds": round(time.time() - started, 2),
            "runs": rows,
        },
    )
    return path
