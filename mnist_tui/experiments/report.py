"""An experiment's report: trial counts, cells with mean and interval, effects, a search's best trial and
the importance of its fields, and the time trials spent waiting. A plain dict (as `report --json` prints
it), and the same as text."""

from __future__ import annotations

import statistics
from pathlib import Path

from mnist_tui.common.text import pct, table
from mnist_tui.experiments import stats
from mnist_tui.experiments.spec import ExperimentSpec, cell_name, level_text
from mnist_tui.experiments.store import TrialRecord, this_host, trials
from mnist_tui.runfolder.status import Status

COUNT_NAMES = {  # report --json's words for the study's states
    Status.QUEUED: "queued",
    Status.RUNNING: "running",
    Status.FINISHED: "done",
    Status.FAILED: "failed",
    Status.PRUNED: "pruned",
}
NOT_RESOLVED = "not resolved at this budget"


def _key(params: dict, fields: list[str]) -> tuple:
    return tuple(repr(params.get(f)) for f in fields)


def build(study, spec: ExperimentSpec, host: str | None = None) -> dict:
    records = trials(study)
    host = host or this_host()
    counts = {name: 0 for name in COUNT_NAMES.values()}
    for r in records:
        counts[COUNT_NAMES[r.status]] += 1
    fields = list(spec.grid)
    done = [r for r in records if r.status == Status.FINISHED and r.test_acc is not None]
    cells = []
    for config in spec.cells() or [{}]:
        key = _key(config, fields)
        members = [r for r in done if _key(r.params, fields) == key]
        queued_or_running = sum(
            1 for r in records if _key(r.params, fields) == key and r.status in (Status.QUEUED, Status.RUNNING)
        )
        interval = stats.mean_interval([r.test_acc for r in members]) if members else None
        cells.append(
            {
                "config": config,
                "name": cell_name(config),
                "n": len(members),
                "pending": queued_or_running,
                "test_acc_mean": interval.mean if interval else None,
                "test_acc_ci95": [interval.low, interval.high] if interval and interval.known else None,
                "val_acc_mean": statistics.fmean(r.val_acc for r in members if r.val_acc is not None)
                if any(r.val_acc is not None for r in members)
                else None,
                "runs": [Path(r.run_dir).name for r in members if r.run_dir],
                "_interval": interval,
            }
        )
    measured = [c for c in cells if c["_interval"] is not None]
    for cell, tier in zip(measured, stats.tiers([c["_interval"] for c in measured])):
        cell["tier"] = tier
    for cell in cells:
        cell.setdefault("tier", None)
        del cell["_interval"]
    report = {
        "experiment": spec.name,
        "kind": "search" if spec.is_search else "grid",
        "spec": spec.to_dict(),
        "counts": counts,
        "trials_total": len(records),
        "cells": cells,
        "ranked": all(c["test_acc_ci95"] for c in cells if c["n"]) and len(measured) > 1,
        "effects": _effects(spec, done),
        "overhead": _overhead(records),
        "elsewhere": sorted({r.host for r in records if r.host and r.host != host}),
        "trials": [_trial_row(r, host) for r in records],
    }
    report["comparisons"] = report["effects"][0]["comparisons"] if report["effects"] else 0
    if spec.is_search:
        report["search"] = _search(study, spec, records)
    return report


def _trial_row(r: TrialRecord, host: str) -> dict:
    return {
        "number": r.number,
        "status": str(r.status),
        "params": r.params,
        "seed": r.seed,
        "val_acc": r.val_acc,
        "test_acc": r.test_acc,
        "run": Path(r.run_dir).name if r.run_dir else None,
        "host": r.host,
        "here": r.host in (None, host),
        "reason": r.reason,
        "retry_of": r.retry_of,
        "curve": r.curve,
    }


def _effects(spec: ExperimentSpec, done: list[TrialRecord]) -> list[dict]:
    fields = list(spec.grid)
    pairs = []
    for factor in fields:
        levels = spec.grid[factor]
        others = [f for f in fields if f != factor]
        for before, after in zip(levels, levels[1:]):  # neighbouring levels, in the order the grid gave them
            blocks: dict[tuple, tuple[list, list]] = {}
            for r in done:
                if r.params.get(factor) not in (before, after):
                    continue
                side = blocks.setdefault(_key(r.params, others), ([], []))
                side[r.params.get(factor) == after].append(r.test_acc)
            both = [(b, a) for b, a in blocks.values() if b and a]
            if both:
                pairs.append((factor, before, after, both))
    out = []
    for factor, before, after, both in pairs:
        e = stats.effect(factor, before, after, both, comparisons=len(pairs))
        ci = [e.low * 100, e.high * 100] if e.low is not None else None
        if ci is None:
            words = f"{NOT_RESOLVED} (one seed in a cell: no interval)"
        elif e.resolved:
            words = f"{level_text(after)} {'beats' if e.delta > 0 else 'trails'} {level_text(before)}"
        else:
            words = NOT_RESOLVED
        out.append(
            {
                "factor": factor,
                "from": before,
                "to": after,
                "delta_pp": e.delta * 100,
                "ci95_pp": ci,
                "resolved": e.resolved,
                "blocks": e.blocks,
                "comparisons": e.comparisons,
                "words": words,
            }
        )
    return out


def _overhead(records: list[TrialRecord]) -> dict:
    def summary(values):
        values = [v for v in values if v is not None]
        return {"median_s": statistics.median(values), "max_s": max(values), "n": len(values)} if values else None

    return {
        "before_first_batch": summary(r.wait_before for r in records),
        "after_last_batch": summary(r.wait_after for r in records),
    }


def _search(study, spec: ExperimentSpec, records: list[TrialRecord]) -> dict:
    done = [r for r in records if r.status == Status.FINISHED and r.val_acc is not None]
    best = max(done, key=lambda r: r.val_acc) if done else None
    importance, why = {}, None
    searched = [f for f in spec.search]
    if len(done) >= 2 and searched:
        import optuna

        try:
            importance = optuna.importance.get_param_importances(study, params=searched)
        except (ValueError, RuntimeError) as error:
            why = str(error).splitlines()[0]
    else:
        why = "needs two finished trials"
    return {
        "objective": "val_acc",
        "best": _trial_row(best, "") if best else None,
        "importance": {k: float(v) for k, v in importance.items()},
        "importance_note": why,
        "pruned": sum(1 for r in records if r.status == Status.PRUNED),
    }


# ---------------------------------------------------------------- as text


def _ci(ci, scale=100.0, digits=2) -> str:
    return f"[{ci[0] * scale / 100:.{digits}f}, {ci[1] * scale / 100:.{digits}f}]" if ci else "-"


def format_text(report: dict) -> str:
    c = report["counts"]
    lines = [
        f"experiment {report['experiment']} ({report['kind']}): "
        + ", ".join(f"{c[k]} {k}" for k in ("done", "running", "queued", "failed", "pruned"))
    ]
    if report["elsewhere"]:
        lines.append(f"trials ran on other hosts too: {', '.join(report['elsewhere'])} (their folders live there)")
    rows = []
    for cell in sorted(report["cells"], key=lambda c: (c["tier"] is None, c["tier"] or 0, -(c["test_acc_mean"] or 0))):
        ci = cell["test_acc_ci95"]
        rows.append(
            [
                (f"{cell['tier']}" if report["ranked"] and cell["tier"] else "-"),
                cell["name"],
                cell["n"],
                pct(cell["test_acc_mean"]),
                f"[{ci[0] * 100:.2f}, {ci[1] * 100:.2f}]" if ci else ("n=1: none" if cell["n"] == 1 else "-"),
                cell["pending"],
            ]
        )
    lines += ["", table(["tier", "cell", "n", "test acc", "95% interval", "to do"], rows, "llrrrr")]
    if not report["ranked"]:
        lines.append("tiers: not given while a cell has fewer than two seeds (no interval, so no order is known)")
    else:
        lines.append("tier: cells in one tier have overlapping intervals; their order is not known")
    if report["effects"]:
        m = report["comparisons"]
        lines += [
            "",
            f"effects (test accuracy, percentage points; {m} comparison{'s' * (m != 1)}, "
            f"intervals Bonferroni-adjusted to hold together at 95%):",
        ]
        erows = []
        for e in report["effects"]:
            ci = e["ci95_pp"]
            erows.append(
                [
                    e["factor"],
                    f"{level_text(e['from'])} -> {level_text(e['to'])}",
                    f"{e['delta_pp']:+.2f}",
                    f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "-",
                    e["words"],
                ]
            )
        lines.append(table(["factor", "levels", "delta pp", "interval", "verdict"], erows, "llrrl"))
    if "search" in report:
        s = report["search"]
        lines.append("")
        if s["best"]:
            b = s["best"]
            params = ", ".join(f"{k}={level_text(v)}" for k, v in b["params"].items())
            lines.append(
                f"best trial #{b['number']} by validation accuracy: {params}: val {pct(b['val_acc'])}, "
                f"test {pct(b['test_acc'])} ({b['run']})"
            )
        else:
            lines.append("no trial has finished yet")
        lines.append(f"pruned: {s['pruned']}")
        if s["importance"]:
            lines.append("importance of each searched field (Optuna's fANOVA):")
            width = 30
            for name, value in sorted(s["importance"].items(), key=lambda kv: -kv[1]):
                lines.append(f"  {name:<14} {'█' * round(value * width):<{width}} {value:.2f}")
        elif s["importance_note"]:
            lines.append(f"importance: not yet ({s['importance_note']})")
    o = report["overhead"]
    if o["before_first_batch"]:
        b, a = o["before_first_batch"], o["after_last_batch"]
        after = f"; after its last batch, median {a['median_s']:.1f} s" if a else ""
        lines += [
            "",
            f"waiting: from a trial's start to its first batch, median {b['median_s']:.1f} s "
            f"(max {b['max_s']:.1f} s){after}",
        ]
    failed = [t for t in report["trials"] if t["status"] == str(Status.FAILED)]
    for t in failed[-5:]:
        again = " (queued again)" if any(x["retry_of"] == t["number"] for x in report["trials"]) else ""
        lines.append(f"trial #{t['number']} failed: {t['reason'] or 'no reason recorded'}{again}")
    return "\n".join(lines)
