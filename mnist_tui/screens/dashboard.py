"""Live dashboard: a row per run with epoch and batch bars, shared curves and the epoch log; and Compare."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Log, Static

from .. import events as ev
from ..board import RunView
from ..messages import TrainingEvent
from ..widgets.curves import CurvesPlot
from ..widgets.run_row import RunRow


def epoch_line(label: str, e: ev.EpochCompleted) -> str:
    return (f"{label:<12} epoch {e.epoch}/{e.epochs}  {e.seconds:5.1f}s  loss {e.train_loss:.4f}  acc {e.train_acc * 100:.2f}%"
            f"  val_loss {e.val_loss:.4f}  val_acc {e.val_acc * 100:.2f}%" + ("  *" if e.best else ""))


class DashboardScreen(Screen):
    """Shows every run on the app's board; only the runs in `run_ids` when given."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "stop", "Stop selected"),
        Binding("S", "stop_all", "Stop all"),
        Binding("enter", "results", "Results"),
        Binding("down,j", "focus_next_run", "Next run", show=False),
        Binding("up,k", "focus_previous_run", "Previous run", show=False),
    ]

    def __init__(self, run_ids: list[str] | None = None) -> None:
        super().__init__()
        self.run_ids = run_ids

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("No runs yet: press escape and start one from Train or Compare.", id="dashboard-empty")
        yield VerticalScroll(id="runs-list")
        with Horizontal(id="charts"):
            yield CurvesPlot("accuracy (%)", "accuracy", percent=True, id="acc-plot")
            yield CurvesPlot("loss", "loss", id="loss-plot")
        yield Log(id="epoch-log", max_lines=500)
        yield Footer()

    def views(self) -> list[RunView]:
        return [v for v in self.app.board if self.run_ids is None or v.run_id in self.run_ids]

    async def on_mount(self) -> None:
        self._rows: dict[str, RunRow] = {}
        rows = [self._ensure_row(view) for view in self.views()]
        if rows:
            rows[0].focus()
        log = self.query_one("#epoch-log", Log)
        for view in self.views():
            for point in view.history:
                log.write_line(f"{view.label:<12} epoch {point['epoch']}/{view.epochs}  val_acc {point['val_acc'] * 100:.2f}%")
        self._refresh_all()

    def _ensure_row(self, view: RunView) -> RunRow:
        """The run's row, created on first sight (registered before it mounts, so never twice)."""
        row = self._rows.get(view.run_id)
        if row is None:
            row = self._rows[view.run_id] = RunRow(view, id=f"row-{view.run_id}")
            self.query_one("#runs-list").mount(row)
            if self.focused is None:
                row.focus()
        return row

    async def on_training_event(self, message: TrainingEvent) -> None:
        event = message.event
        if self.run_ids is not None and event.run_id not in self.run_ids:
            return
        view = self.app.board.runs.get(event.run_id)
        if view is None:
            return
        row = self._ensure_row(view)
        if row.is_mounted:
            row.show(view)
        log = self.query_one("#epoch-log", Log)
        if isinstance(event, ev.EpochCompleted):
            log.write_line(epoch_line(view.label, event))
            self._refresh_charts()
        elif isinstance(event, ev.RunFinished):
            test = event.summary.get("test_acc")
            log.write_line(f"{view.label:<12} {event.status}" + (f"  test_acc {test * 100:.2f}%" if test is not None else "")
                           + "  (select it and press enter for results)")
            self._run_ended()
        elif isinstance(event, ev.RunFailed):
            log.write_line(f"{view.label:<12} failed: {event.reason}")
            self._run_ended()
        self.query_one("#dashboard-empty").display = False

    def _refresh_all(self) -> None:
        self.query_one("#dashboard-empty").display = not self.views()
        self._refresh_charts()

    def _refresh_charts(self) -> None:
        views = self.views()
        several = len(views) > 1
        acc, loss = {}, {}
        for view in views:
            xs = [p["epoch"] for p in view.history]
            if several:  # one shared chart: validation curves, one line per run
                acc[view.label] = (xs, [p["val_acc"] for p in view.history])
                loss[view.label] = (xs, [p["val_loss"] for p in view.history])
            else:
                acc.update({"train": (xs, [p["train_acc"] for p in view.history]), "val": (xs, [p["val_acc"] for p in view.history])})
                loss.update({"train": (xs, [p["train_loss"] for p in view.history]), "val": (xs, [p["val_loss"] for p in view.history])})
        self.query_one("#acc-plot", CurvesPlot).show(acc)
        self.query_one("#loss-plot", CurvesPlot).show(loss)

    def _run_ended(self) -> None:
        """Hook for Compare."""

    def selected(self) -> RunView | None:
        focused = self.focused
        return focused.view if isinstance(focused, RunRow) else None

    def action_stop(self) -> None:
        view = self.selected()
        if view and view.active:
            self.app.stop_runs([view.run_id])
            self.notify(f"Stopping {view.label} after this batch ...")

    def action_stop_all(self) -> None:
        active = [v.run_id for v in self.views() if v.active]
        if active:
            self.app.stop_runs(active)
            self.notify(f"Stopping {len(active)} run(s) ...")

    def action_results(self) -> None:
        view = self.selected()
        if view is None:
            return
        if view.active:
            self.notify("Results are ready when the run ends.")
        elif view.run_dir and view.status in ("finished", "cancelled"):
            self.app.open_screen("results", view.run_dir)
        else:
            self.notify(view.reason or "This run has no results.", severity="warning", markup=False)

    def _move(self, step: int) -> None:
        rows = list(self.query(RunRow))
        if not rows:
            return
        index = rows.index(self.focused) if self.focused in rows else -1
        rows[(index + step) % len(rows)].focus()

    def action_focus_next_run(self) -> None:
        self._move(1)

    def action_focus_previous_run(self) -> None:
        self._move(-1)


class CompareScreen(DashboardScreen):
    """Starts the reference comparison in parallel, shows it live, then a comparison table."""

    TITLE = "Compare models"

    def __init__(self) -> None:
        super().__init__(run_ids=[])

    def compose(self) -> ComposeResult:
        with Horizontal(id="compare-form"):
            yield Label("Epochs ")
            yield Input("3", type="integer", id="compare-epochs")
            yield Label(" Train images (0: all 54,000) ")
            yield Input("0", type="integer", id="compare-subset")
            yield Label(" [b]enter[/b] starts all four", id="compare-hint")
        yield from super().compose()
        yield DataTable(id="compare-table", classes="hidden", cursor_type="row")

    async def on_mount(self) -> None:
        await super().on_mount()
        self.query_one("#compare-epochs", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.run_ids:
            self.start()

    def start(self) -> None:
        import os
        import time

        from ..compare import reference_configs
        from ..config import make_config

        try:
            epochs = int(self.query_one("#compare-epochs", Input).value or 3)
            subset = int(self.query_one("#compare-subset", Input).value or 0)
            base = make_config(None, epochs=epochs, train_subset=subset,
                               data_dir=str(self.app.data_dir) if self.app.data_dir else None,
                               runs_dir=str(self.app.runs_dir))
        except ValueError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.jobs = os.cpu_count() or 1
        self.started = time.time()
        self.run_ids = self.app.start_training(reference_configs(base, self.jobs))
        self.query_one("#compare-form").display = False
        for view in self.views():
            self._ensure_row(view)
        self._refresh_all()

    def _run_ended(self) -> None:
        views = self.views()
        if any(v.active for v in views):
            return
        from ..compare import compare_rows, write_report

        rows = compare_rows([{**v.summary, "model": v.label.removesuffix("-aug"), "augment": v.label.endswith("-aug"),
                              "status": v.status, "run_dir": v.run_dir} for v in views])
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_columns("model", "params", "epochs", "best val acc", "test acc", "seconds", "status")
        pct = lambda x: f"{x * 100:.2f}%" if x is not None else "-"  # noqa: E731
        for r in rows:
            table.add_row(r["model"], f"{r['params']:,}" if r["params"] else "-", r["epochs"] if r["epochs"] is not None else "-",
                          pct(r["best_val_acc"]), pct(r["test_acc"]), f"{r['seconds']:.1f}" if r["seconds"] else "-", r["status"])
        table.remove_class("hidden")
        path = write_report(self.app.runs_dir, rows, self.jobs, self.started)
        self.notify(f"Comparison finished: the table is below the charts; saved {path}.")
