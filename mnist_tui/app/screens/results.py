"""Results for one run: test accuracy, confusion matrix, per-class scores, curves and misclassified digits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Digits, Header, Static, TabbedContent, TabPane

from mnist_tui.app.widgets.class_scores import ClassScoresTable
from mnist_tui.app.widgets.confusion import Confusion, ConfusionTable
from mnist_tui.app.widgets.curves import CurvesPlot
from mnist_tui.app.widgets.gallery import MisclassifiedGallery, Mistake
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.common.fileio import read_json
from mnist_tui.common.text import pct
from mnist_tui.runfolder.names import run_label
from mnist_tui.runfolder.record import CHECKPOINT, SUMMARY, Summary, read_metrics
from mnist_tui.runfolder.status import why_untested

TABS = ("confusion", "classes", "curves", "mistakes")


def batch_curve(run_dir: Path) -> list[tuple[float, float, float | None]]:
    """The smoothed per-batch training curve the dashboard drew, rebuilt from the run's event log by the
    same reader and board: (epochs as a float, loss, acc)."""
    from mnist_tui.app.board import Board
    from mnist_tui.runfolder.live import read_events, without_past_ends

    events, _ = read_events(run_dir)
    board, view = Board(), None
    for event in without_past_ends(events):
        view = board.apply(event)
    return view.batch_points if view else []


@dataclass(frozen=True)
class Scores:
    test_acc: float
    test_loss: float
    confusion: Confusion
    per_class: dict
    fresh: bool  # computed now from the checkpoint, not read from confusion.json


class ResultsScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("p", "toggle_percent", "Counts/%"),
        Binding("l", "inspect", "Model"),
        *[Binding(str(i), f"show_tab('{tab}')", tab, show=False) for i, tab in enumerate(TABS, 1)],
    ]

    @dataclass
    class Loaded(Message):
        """The run's files were read: its summary, per-epoch metrics and saved test scores (None if not tested)."""

        summary: Summary
        metrics: list[dict]
        scores: Scores | None
        batches: list[tuple[float, float, float | None]]  # per-batch training curve, when no epoch completed

    @dataclass
    class Evaluated(Message):
        """The best checkpoint was run on the test set; `scores` is set when the run had none saved."""

        mistakes: list[Mistake]
        wrong: int
        total: int
        scores: Scores | None

    @dataclass
    class EvaluationFailed(Message):
        reason: str

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.scores: Scores | None = None
        self.summary = Summary()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="results-head"):
            yield Digits("-", id="results-acc")
            yield Static("reading the run ...", id="results-info")
        with TabbedContent(id="results-tabs"):
            with TabPane("1 Confusion", id="confusion"):
                yield Static("", id="confusion-caption")
                yield ConfusionTable(id="confusion-table")
            with TabPane("2 Per class", id="classes"):
                yield ClassScoresTable(id="class-scores")
            with TabPane("3 Curves", id="curves"):
                with Horizontal(id="results-charts"):
                    yield CurvesPlot("accuracy (%)", "accuracy", percent=True, id="results-acc-plot")
                    yield CurvesPlot("loss", "loss", id="results-loss-plot")
            with TabPane("4 Misclassified", id="mistakes"):
                yield MisclassifiedGallery(id="gallery")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.title = "Results"
        self.sub_title = self.run_dir.name
        self.query_one(ConfusionTable).focus()
        self.load(self.app.data_dir)

    # -------------------------------------------------- work (off the UI thread)

    @work(thread=True, exclusive=True, group="results")
    def load(self, app_data_dir: Path | None) -> None:
        try:
            self._load(app_data_dir)
        except Exception as error:  # noqa: BLE001 - any failure is one line on the screen, not a crash
            self.post_message(self.EvaluationFailed(f"{type(error).__name__}: {error}"))

    def _load(self, app_data_dir: Path | None) -> None:
        """Post what the files hold at once, then the test-set evaluation the gallery (and a cancelled run) needs."""
        summary = Summary.from_dict(read_json(self.run_dir / SUMMARY))  # types checked
        config = read_json(self.run_dir / "config.json")
        saved = read_json(self.run_dir / "confusion.json")
        metrics = read_metrics(self.run_dir)
        batches = [] if metrics else batch_curve(self.run_dir)  # a long run's log is only read when needed
        from mnist_tui.engine import evaluate  # imports torch: here, never on the UI thread
        from mnist_tui.training.evaluation import evaluate_run

        def scores(acc, loss, counts, per_class, fresh) -> Scores:
            import numpy as np

            counts = np.asarray(counts)
            confusion = Confusion(
                counts.tolist(), evaluate.row_percentages(counts).tolist(), evaluate.worst_confusions(counts, 3)
            )
            return Scores(float(acc), float(loss), confusion, per_class, fresh)

        saved_scores = None
        if "counts" in saved:
            saved_scores = scores(saved["test_acc"], saved["test_loss"], saved["counts"], saved["per_class"], False)
        self.post_message(self.Loaded(summary, metrics, saved_scores, batches))
        if not (self.run_dir / CHECKPOINT).exists():
            self.post_message(self.EvaluationFailed("this run saved no checkpoint, so there is nothing to test"))
            return
        from mnist_tui.engine.data import load_arrays

        data_dir = app_data_dir or config.get("data_dir") or None
        report = evaluate_run(self.run_dir, data_dir)
        images = load_arrays(data_dir).test_images  # cached: the same arrays evaluate_run just read
        wrong = [int(i) for i in (report.labels != report.predictions).nonzero()[0]]
        mistakes = [Mistake(images[i], int(report.labels[i]), int(report.predictions[i])) for i in wrong]
        fresh = (
            None
            if saved_scores
            else scores(report.test_acc, report.test_loss, report.confusion, report.per_class, True)
        )
        self.post_message(self.Evaluated(mistakes, len(wrong), len(report.labels), fresh))

    # -------------------------------------------------- messages

    def on_results_screen_loaded(self, message: Loaded) -> None:
        self.summary = message.summary
        rows = message.metrics
        acc_plot = self.query_one("#results-acc-plot", CurvesPlot)
        loss_plot = self.query_one("#results-loss-plot", CurvesPlot)
        if rows:
            xs = [row["epoch"] for row in rows]
            acc_plot.show({"train": (xs, [r["train_acc"] for r in rows]), "val": (xs, [r["val_acc"] for r in rows])})
            loss_plot.show({"train": (xs, [r["train_loss"] for r in rows]), "val": (xs, [r["val_loss"] for r in rows])})
        else:  # no epoch completed: the training curve the dashboard drew, if the log has one
            points = message.batches
            for plot, pairs in (
                (acc_plot, [(p[0], p[2]) for p in points if p[2] is not None]),  # old logs carry no accuracy
                (loss_plot, [(p[0], p[1]) for p in points]),
            ):
                drawn = "per batch, from the event log: " if pairs else ""
                series = {"train": ([x for x, _ in pairs], [y for _, y in pairs])} if pairs else {}
                plot.show(series, f"{drawn}no epoch completed")
        if message.scores:
            self._show_scores(message.scores)
        else:
            self._show_info("evaluating the best checkpoint on the test set ...")
            self.query_one("#confusion-caption", Static).update("evaluating ...")

    def on_results_screen_evaluated(self, message: Evaluated) -> None:
        if message.scores:
            self._show_scores(message.scores)
        if message.wrong:  # short: the two digit filters share its line, at 80 columns too
            self.query_one(MisclassifiedGallery).show(
                message.mistakes, f"{message.wrong:,} of {message.total:,} misclassified"
            )
        else:
            note = f"No misclassified test images: all {message.total:,} are right."
            self.query_one(MisclassifiedGallery).show([], "none wrong", note)

    def on_results_screen_evaluation_failed(self, message: EvaluationFailed) -> None:
        self.query_one(MisclassifiedGallery).show([], "Could not evaluate", f"Could not evaluate: {message.reason}")
        if self.scores is None:
            self._show_info(f"no test scores: {escape(message.reason)}")
            self.query_one("#confusion-caption", Static).update(f"no test scores: {escape(message.reason)}")

    # -------------------------------------------------- rendering

    def _show_info(self, line: str, note: str = "") -> None:
        s = self.summary
        label = run_label(s.model, s.augment)
        facts = [
            f"[b]{escape(label)}[/b]",
            escape(str(s.status)),
            escape(f"{s.epochs_run}/{s.epochs if s.epochs is not None else '?'} epochs"),
        ]
        if s.params:
            facts.append(f"{s.params:,} params")
        if s.train_seconds is not None:
            facts.append(f"{s.train_seconds:.0f}s")
        self.query_one("#results-info", Static).update(
            f"{'  '.join(facts)}\n{line}\n[dim]{escape(note or self.run_dir.name)}[/dim]"
        )

    def _show_scores(self, scores: Scores) -> None:
        self.scores = scores
        self.query_one("#results-acc", Digits).update(pct(scores.test_acc))
        status = self.summary.status
        note = f"scored now: {why_untested(status)}" if scores.fresh else ""  # no reason: short for 80 columns
        val = self.summary.val_acc
        val = f"  best val {pct(val)}" if val is not None else ""
        self._show_info(f"[b]test accuracy {pct(scores.test_acc)}[/b]  loss {scores.test_loss:.4f}{val}", note)
        self.query_one(ConfusionTable).show(scores.confusion)
        self.query_one(ClassScoresTable).show(scores.per_class)
        self._caption()

    def _caption(self) -> None:
        if self.scores is None:
            return
        percent = self.query_one(ConfusionTable).percent
        mode = "[b]row %[/b] of each true digit" if percent else "[b]counts[/b]"
        worst = ", ".join(f"{t}→{p} ×{n}" for t, p, n in self.scores.confusion.worst) or "none"
        self.query_one("#confusion-caption", Static).update(
            f"{mode}  rows: true digit, columns: predicted  [dim](p: {'counts' if percent else 'row %'})[/dim]\n"
            f"most confused: {worst}"
        )

    # -------------------------------------------------- actions

    def action_toggle_percent(self) -> None:
        table = self.query_one(ConfusionTable)
        table.percent = not table.percent
        self.query_one(TabbedContent).active = "confusion"
        self._caption()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Focus what the tab shows, so arrows and page keys scroll it without a mouse."""
        target = {"confusion": ConfusionTable, "classes": ClassScoresTable, "mistakes": MisclassifiedGallery}
        if event.pane.id in target:
            self.query_one(target[event.pane.id]).focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_inspect(self) -> None:
        if (self.run_dir / CHECKPOINT).exists():
            self.app.open_screen("model", self.run_dir)
        else:
            self.notify("This run saved no checkpoint, so there is no model to look inside.", severity="warning")
