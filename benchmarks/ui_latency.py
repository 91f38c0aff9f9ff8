"""UI latency while training: how long a key echo and a screen change take with two runs training.

Drives the real app with Textual's Pilot. Two 3-layer runs train on MNIST through the app's own training
service, first at normal priority (nice 0, as before) and then at the app's priority (nice 10), in the
same process and run, so the two rows are comparable. For each, it times:
- a screen change: `r` from the menu until the Runs screen is on top and shows this visit's rows (it reads
  the runs folder in a thread, so being on top is not enough), and escape back;
- a key echo: a digit typed into the Train form's Epochs field until the field shows it.
Each app first times the screen change with nothing training, the baseline for the machine's own load.
A bare Textual app is timed first in the same harness: a header, a five-item list and a footer, whose `r`
pushes a kept screen with a header, a 20-row table and a footer. Its screen change is what any Textual
screen change costs here, and a key that nothing is bound to is what Pilot itself costs (it waits for the
app to go idle). Reports the median and the 90th percentile in milliseconds, and each median as a ratio of
the bare app's screen change. Target: medians within 100 ms at nice 10.

    python benchmarks/ui_latency.py            # 20 samples of each
    python benchmarks/ui_latency.py --quick    # a smoke run on synthetic data
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit(f"the app did not answer within {timeout:.0f} s")
        await pilot.pause(0.005)


def bare_app():
    """What any Textual program costs: the menu of `benchmarks/startup.py`, and a screen with a table."""
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import DataTable, Footer, Header, OptionList

    class Table(Screen):
        BINDINGS = [("escape", "app.pop_screen", "Back")]

        def compose(self):
            yield Header()
            yield DataTable()
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("run", "status", "test")
            table.add_rows([(f"run {n}", "finished", f"{99 - n / 10:.2f}%") for n in range(20)])

    class Bare(App):
        BINDINGS = [("r", "push_screen('table')", "Runs"), ("q", "quit", "Quit")]
        SCREENS = {"table": Table}  # installed once and kept between visits, as the Runs screen is

        def compose(self):
            yield Header()
            yield OptionList("Train", "Compare", "Data", "Predict", "Runs")
            yield Footer()

    return Bare()


async def bare_latency(samples: int) -> dict[str, list[float]]:
    """In the bare app: a key that nothing is bound to (what a key costs in this harness: Pilot waits for the
    app to go idle), and the screen change, `r` until its table screen is on top, then escape back."""
    app, unbound, changes = bare_app(), [], []
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(samples):
            start = time.perf_counter()
            await pilot.press("x")
            unbound.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await pilot.press("r")
            await until(pilot, lambda: type(app.screen).__name__ == "Table")
            changes.append((time.perf_counter() - start) * 1000)
            await pilot.press("escape")
            await until(pilot, lambda: type(app.screen).__name__ != "Table")
    return {"unbound_key_ms": unbound, "screen_change_ms": changes}


def runs_shown(app) -> bool:
    """The Runs screen is on top and shows the listing read for this visit. (One from before the listing
    moved to a thread has no `loaded`: its rows were in when it was on top.)"""
    return type(app.screen).__name__ == "RunsScreen" and getattr(app.screen, "loaded", True)


async def screen_changes(pilot, samples: int) -> list[float]:
    """`r` from the menu until the Runs screen shows its rows, then escape back; milliseconds."""
    app, times = pilot.app, []
    for _ in range(samples):
        start = time.perf_counter()
        await pilot.press("r")
        await until(pilot, lambda: runs_shown(app))
        times.append((time.perf_counter() - start) * 1000)
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "MenuScreen")
    return times


async def measure(nice: int, samples: int, data_dir: str | None, runs_dir: str, epochs: int, subset: int) -> dict:
    from mnist_tui.app.app import make_app
    from mnist_tui.engine.config import make_config
    from mnist_tui.service.worker import TrainingService

    app = make_app(runs_dir, data_dir, service_factory=lambda: TrainingService(max_jobs=2, nice=nice))
    configs = [
        make_config(
            "3-layer", epochs=epochs, patience=0, seed=seed, train_subset=subset, runs_dir=runs_dir, data_dir=data_dir
        )
        for seed in (0, 1)
    ]
    echo_ms = []
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "MenuScreen")
        idle_ms = await screen_changes(pilot, samples)
        ids = app.start_training(configs)
        await until(pilot, lambda: all(app.board.runs[i].batch > 0 for i in ids), 300)
        screen_ms = await screen_changes(pilot, samples)
        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen")
        field = app.screen.query_one("#epochs")
        field.focus()
        await until(pilot, lambda: app.focused is field)
        for n in range(samples):
            field.value = ""
            await pilot.pause(0.05)
            digit = str(n % 9 + 1)
            start = time.perf_counter()
            await pilot.press(digit)
            await until(pilot, lambda digit=digit: field.value == digit)
            echo_ms.append((time.perf_counter() - start) * 1000)
        app.stop_runs(ids)
        # Wait for them to stop: they train on, detached, after the app exits, and the temporary runs dir
        # would be deleted under them (they trained for an hour like that before runs noticed it).
        await until(pilot, lambda: not any(app.board.runs[i].active for i in ids), 300)
    return {"nice": nice, "idle_screen_change_ms": idle_ms, "screen_change_ms": screen_ms, "key_echo_ms": echo_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on synthetic data")
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    samples = 3 if args.quick else args.samples
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = None
        if args.quick:
            from mnist_tui.engine.synthetic import write_synthetic

            data_dir = str(Path(tmp) / "data")
            write_synthetic(data_dir, n_train=1000, n_test=200)
        bare = asyncio.run(bare_latency(samples))
        baseline = statistics.median(bare["screen_change_ms"])
        for what, values in bare.items():
            median = statistics.median(values)
            rows.append(
                [
                    "nothing (bare Textual)",
                    what.removesuffix("_ms").replace("_", " "),
                    f"{median:.0f}",
                    f"{percentile(values, 0.9):.0f}",
                    f"{median / baseline:.2f}x",
                    len(values),
                ]
            )
        for nice in (0, 10):
            runs_dir = str(Path(tmp) / f"runs-nice{nice}")
            result = asyncio.run(measure(nice, samples, data_dir, runs_dir, epochs=50, subset=0))
            results.append(result)
            for what in ("idle_screen_change_ms", "screen_change_ms", "key_echo_ms"):
                values = result[what]
                rows.append(
                    [
                        "nothing (this app)" if what.startswith("idle") else f"nice {nice}",
                        what.removesuffix("_ms").removeprefix("idle_").replace("_", " "),
                        f"{statistics.median(values):.0f}",
                        f"{percentile(values, 0.9):.0f}",
                        f"{statistics.median(values) / baseline:.2f}x",
                        len(values),
                    ]
                )
    print(f"two 3-layer runs training, except in the 'nothing' rows; {os.cpu_count()} cores")
    print(table(["training at", "action", "median ms", "p90 ms", "/ bare", "samples"], rows, "llrrrr"))
    if not args.quick:
        print(f"wrote {write('ui_latency', {'bare': bare, 'results': results})}")


if __name__ == "__main__":
    main()
