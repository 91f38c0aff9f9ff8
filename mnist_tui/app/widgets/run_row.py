"""RunRow: one training run's epoch and batch bars, speed, ETA and latest scores."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from mnist_tui.app.board import RunView
from mnist_tui.common.text import pct
from mnist_tui.runfolder.status import WITH_WEIGHTS, Status


def clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


class RunRow(Widget, can_focus=True):
    """Shows the RunView it is handed; `show(view)` re-renders."""

    def __init__(self, view: RunView, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view

    def compose(self) -> ComposeResult:
        yield Label(id="run-title", classes="run-status")
        with Horizontal(classes="run-bars"):
            yield Label("epoch ", classes="bar-label")
            yield ProgressBar(total=max(self.view.epochs, 1), show_eta=False, id="epoch-bar")
            yield Label(" batch ", classes="bar-label")
            yield ProgressBar(total=max(self.view.batches, 1), show_eta=False, id="batch-bar")
            yield Label(id="run-speed")

    def on_mount(self) -> None:
        self.show(self.view)

    def show(self, view: RunView) -> None:
        self.view = view
        for status in (Status.FINISHED, Status.FAILED, Status.CANCELLED):
            self.set_class(view.status == status, f"-{status}")
        last = view.history[-1] if view.history else None
        scores = f"  val {pct(last['val_acc'])}  loss {last['val_loss']:.4f}" if last else ""
        test = view.summary.test_acc if view.summary else None
        if test is not None:
            scores += f"  [b]test {pct(test)}[/b]"
        extra = f"  [i]{escape(view.reason)}[/i]" if view.reason else ""  # reasons come from exceptions and disk
        hint = "  [dim](enter: results)[/dim]" if view.status in WITH_WEIGHTS and view.run_dir else ""
        status = "stopping after this batch" if view.stopping and view.active else view.status
        # What matters first, so a narrow terminal cuts only the device and the hint.
        self.query_one("#run-title", Label).update(
            f"[b]{escape(view.label)}[/b]  {status}  epoch {view.epoch}/{view.epochs}{scores}{extra}"
            f"  [dim]{view.device}[/dim]{hint}"
        )
        epoch_bar = self.query_one("#epoch-bar", ProgressBar)
        epoch_bar.update(total=max(view.epochs, 1), progress=view.epoch)
        batch_bar = self.query_one("#batch-bar", ProgressBar)
        batch_bar.update(total=max(view.batches, 1), progress=view.batch)
        speed = (
            f" {view.images_per_sec:,.0f} img/s  ETA {clock(view.eta_seconds)}" if view.active and view.batches else ""
        )
        self.query_one("#run-speed", Label).update(speed)
