"""Live dashboard: a row per run with epoch and batch bars, shared curves and the epoch log; and Compare."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, Static

from mnist_tui.app.board import RunView
from mnist_tui.app.messages import RunsChanged
from mnist_tui.app.widgets.curves import CurvesPlot
from mnist_tui.app.widgets.run_row import RunRow
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.app.widgets.tail_log import TailLog
from mnist_tui.common.text import pct
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder.names import find_renamed, stem
from mnist_tui.runfolder.status import SUCCESS, WITH_WEIGHTS, Status


def epoch_line(label: str, p: dict) -> str:
    """One epoch of a run, from its board history point (so the log is the same whenever it is rebuilt).
    Validation first: on a narrow terminal the line is cut at the training loss and the time."""
    return (
        f"{label:<12} epoch {p['epoch']}/{p.get('epochs', '?')}  val_acc {pct(p['val_acc'])}  "
        f"val_loss {p['val_loss']:.4f}  acc {pct(p['train_acc'])}  loss {p['train_loss']:.4f}  {p['seconds']:.1f}s"
        + ("  *" if p.get("best") else "")
    )


def end_line(view: RunView) -> str:
    if view.status == Status.FAILED:
        return f"{view.label:<12} failed: {view.reason}"
    test = view.summary.test_acc if view.summary else None
    line = f"{view.label:<12} {view.status}" + (f"  test_acc {pct(test)}" if test is not None else "")
    if view.reason:
        line += f"  ({view.reason})"
    return line + ("  (select it, enter: results)" if view.status in SUCCESS else "")


class DashboardScreen(Screen):
    """Shows every run on the app's board; only the runs in `run_ids` when given."""

    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # app.tcss shrinks the log and charts on -short
    EMPTY = "No runs yet: press escape and start one from Train or Compare."

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
        yield Static(self.EMPTY, id="dashboard-empty")
        runs_list = VerticalScroll(id="runs-list")
        runs_list.can_focus = False  # its rows take the focus, one per run
        yield runs_list
        with Horizontal(id="charts"):
            yield CurvesPlot("accuracy (%)", "accuracy", percent=True, id="acc-plot")
            yield CurvesPlot("loss", "loss", id="loss-plot")
        yield TailLog(id="epoch-log", max_lines=500)
        yield SteadyFooter()

    def views(self) -> list[RunView]:
        return [v for v in self.app.board if self.run_ids is None or v.run_id in self.run_ids]

    async def on_mount(self) -> None:
        self._rows: dict[str, RunRow] = {}
        # Per run: the last epoch written to the log, and the end it last wrote (so a run that comes back,
        # resumed, logs its new epochs and its new end, and nothing twice).
        self._logged: dict[str, tuple[int, tuple | None]] = {}
        self.app.run_updated.subscribe(self, self.on_run_updated)
        self._sync()
        rows = list(self._rows.values())
        if rows:
            rows[-1].focus()  # the newest run

    def on_screen_resume(self) -> None:
        self._sync()

    def on_runs_changed(self, message: RunsChanged) -> None:
        self._sync()

    def _sync(self) -> None:
        """Show the board as it is now: runs started, changed or let go while this screen did not look."""
        self._drop_forgotten_rows()
        for view in self.views():
            row = self._ensure_row(view)
            if row.is_mounted:
                row.show(view)
            self._log_new_lines(view)
        self._refresh_all()

    def _drop_forgotten_rows(self) -> None:
        """Rows of runs the board let go (deleted, or replaced by their resumed run)."""
        for run_id in [r for r in self._rows if r not in self.app.board.runs]:
            self._rows.pop(run_id).remove()
            self._logged.pop(run_id, None)

    def _ensure_row(self, view: RunView) -> RunRow:
        """The run's row, created on first sight (registered before it mounts, so never twice). A new
        run's row is focused, so `s` and enter act on the run just started."""
        row = self._rows.get(view.run_id)
        if row is None:
            row = self._rows[view.run_id] = RunRow(view, id=f"row-{view.run_id}")
            self.query_one("#runs-list").mount(row)
            row.focus()
            row.scroll_visible()
        return row

    def _log_new_lines(self, view: RunView) -> None:
        log = self.query_one("#epoch-log", TailLog)
        last, ended = self._logged.get(view.run_id, (0, None))
        for point in view.history:
            if point["epoch"] > last:
                log.write_line(epoch_line(view.label, point))
                last = point["epoch"]
        end = (view.status, len(view.history), view.run_dir)
        if not view.active and ended != end:
            log.write_line(end_line(view))
            ended = end
        self._logged[view.run_id] = (last, ended)

    def on_run_updated(self, event) -> None:
        """Every engine event, published by the app after its board applied it (also while covered)."""
        if self.run_ids is not None and event.run_id not in self.run_ids:
            return
        view = self.app.board.runs.get(event.run_id)
        if view is None:
            return
        row = self._ensure_row(view)
        if row.is_mounted:
            row.show(view)
        if isinstance(event, (ev.EpochCompleted, ev.RunFinished, ev.RunFailed, ev.RunStarted)):
            self._log_new_lines(view)
        if isinstance(event, (ev.RunFinished, ev.RunFailed)):
            self._run_ended()
        if isinstance(event, (ev.EpochCompleted, ev.BatchProgress, ev.RunStarted)):
            self._refresh_charts()
        self.query_one("#dashboard-empty").display = False

    def _refresh_all(self) -> None:
        self.query_one("#dashboard-empty").display = not self.views()
        self._refresh_charts()

    def _refresh_charts(self) -> None:
        """Smoothed per-batch training curves from the first batch, with the per-epoch validation points on top."""
        views = self.views()
        several = len(views) > 1
        acc, loss = {}, {}
        for view in views:
            xs = [p["epoch"] for p in view.history]
            bx = [p[0] for p in view.batch_points]
            if several:  # one shared chart: validation points per run, and each run's training curve
                acc[f"{view.label} val"] = (xs, [p["val_acc"] for p in view.history])
                loss[f"{view.label} val"] = (xs, [p["val_loss"] for p in view.history])
                if not view.history:
                    acc[f"{view.label} train"] = (bx, [p[2] for p in view.batch_points if p[2] is not None])
                    loss[f"{view.label} train"] = (bx, [p[1] for p in view.batch_points])
            else:
                acc.update(
                    {
                        "train": (bx, [p[2] for p in view.batch_points if p[2] is not None]),
                        "val": (xs, [p["val_acc"] for p in view.history]),
                    }
                )
                loss.update(
                    {
                        "train": (bx, [p[1] for p in view.batch_points]),
                        "val": (xs, [p["val_loss"] for p in view.history]),
                    }
                )
        self.query_one("#acc-plot", CurvesPlot).show(acc)
        self.query_one("#loss-plot", CurvesPlot).show(loss)

    def _run_ended(self) -> None:
        """Hook for Compare."""

    def selected(self) -> RunView | None:
        focused = self.focused
        return focused.view if isinstance(focused, RunRow) else None

    def action_stop(self) -> None:
        view = self.selected()
        if view is None:
            self.notify("Select a run first (j/k).", severity="warning")
        elif not view.active:
            self.notify(f"{view.label} is not training ({view.status}).", markup=False)
        else:
            self.app.stop_runs([view.run_id])
            self.selected_row_refresh()
            where = f" ({view.run_dir.rsplit('/', 1)[-1]})" if view.run_dir else ""
            kept = (
                f"its checkpoint is kept ({len(view.history)} epoch(s) done)"
                if view.history
                else "no epoch has ended yet, so it saves no checkpoint"
            )
            self.notify(f"Stopping {view.label} after this batch{where}; {kept}.", markup=False)

    def selected_row_refresh(self) -> None:
        if isinstance(self.focused, RunRow):
            self.focused.show(self.focused.view)

    def action_stop_all(self) -> None:
        active = [v.run_id for v in self.views() if v.active]
        if not active:
            self.notify("No run is training.")
            return
        from mnist_tui.app.screens.confirm import ConfirmScreen

        def answer(yes: bool | None) -> None:
            if yes:
                self.app.stop_runs(active)
                self.notify(f"Stopping {len(active)} run(s) after their current batch ...")

        self.app.push_screen(
            ConfirmScreen(
                f"Stop all {len(active)} training run(s)? Each keeps the checkpoint of its epochs so far "
                "(a run still in its first epoch has none yet).",
                yes="Stop all",
            ),
            answer,
        )

    def action_results(self) -> None:
        view = self.selected()
        if view is None:
            return
        if view.active:
            self.notify("Results are ready when the run ends.")
        elif view.run_dir and view.status in WITH_WEIGHTS:
            folder = Path(view.run_dir)
            folder = folder if folder.exists() else find_renamed(folder.parent, stem(folder))  # resumed elsewhere
            if folder is None:
                self.notify(f"{view.run_dir} is gone (deleted or moved).", severity="warning", markup=False)
            else:
                self.app.open_screen("results", str(folder))
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
    EMPTY = "Set the epochs and train images above, then press enter: the four models train side by side here."

    def __init__(self) -> None:
        super().__init__(run_ids=[])

    def compose(self) -> ComposeResult:
        from mnist_tui.engine.splits import split_size

        with Horizontal(id="compare-form"):
            yield Label("Epochs ")
            yield Input("3", type="integer", id="compare-epochs")
            yield Label(f" Train images (0: all {split_size(self.app.data_dir):,}) ")
            yield Input("0", type="integer", id="compare-subset")
            yield Label(" [b]enter[/b] starts", id="compare-hint")  # the whole form fits 80 columns
        yield from super().compose()
        yield DataTable(id="compare-table", classes="hidden", cursor_type="row")

    async def on_mount(self) -> None:
        await super().on_mount()
        self.query_one("#epoch-log").can_focus = False  # tab moves between the form's two fields until it starts
        self.query_one("#compare-epochs", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.run_ids:
            self.start()

    def start(self) -> None:
        import os

        from mnist_tui.engine.config import make_config
        from mnist_tui.engine.idx import DataError
        from mnist_tui.engine.splits import check_train_subset
        from mnist_tui.service.compare import reference_configs

        try:
            epochs = int(self.query_one("#compare-epochs", Input).value or 3)
            subset = int(self.query_one("#compare-subset", Input).value or 0)
            base = make_config(
                None,
                epochs=epochs,
                train_subset=subset,
                data_dir=str(self.app.data_dir) if self.app.data_dir else None,
                runs_dir=str(self.app.runs_dir),
            )
            check_train_subset(subset, base.data_dir or None)
            configs = reference_configs(base, os.cpu_count() or 1)
        except (ValueError, DataError) as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.job = self.app.start_compare(configs, os.cpu_count() or 1)
        self.run_ids = self.job.run_ids
        self.query_one("#compare-form").display = False
        self.query_one("#epoch-log").can_focus = True
        for view in self.views():
            self._ensure_row(view)
        self._refresh_all()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self._run_ended()

    def _run_ended(self) -> None:
        """Show the table once the app has written it (the app does that even while this screen is covered)."""
        job = getattr(self, "job", None)
        if job is None or job.rows is None or getattr(self, "_shown", None) is job.rows:
            return
        self._shown = job.rows  # a table written again (a run of it resumed) is shown again
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        from mnist_tui.service.compare import TABLE_HEADERS, table_cells

        table.add_columns(*TABLE_HEADERS)
        for cells in table_cells(job.rows):
            table.add_row(*cells)
        table.remove_class("hidden")
        self.query_one("#epoch-log", TailLog).display = False  # the table sums it up; give it the room
        self.sub_title = f"finished: saved {job.path}" if job.path else job.error
