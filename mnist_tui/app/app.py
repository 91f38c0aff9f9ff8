"""The Textual app: a viewer and launcher of runs. It holds the training service and the run board, and
publishes run updates to every screen that subscribes, whether or not it is on top."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.signal import Signal

from mnist_tui.app.board import Board
from mnist_tui.app.messages import RunsChanged, TrainingEvent
from mnist_tui.runfolder.record import Summary

TRAINING_NICE = 10  # runs started from the app yield the CPU to the UI and to the user's other work
SCAN_SECONDS = 2.0  # how often the app looks at the runs folder for runs started elsewhere


@dataclass
class CompareJob:
    """A reference comparison the app started: its runs, and its table once the last one ends."""

    run_ids: list[str]
    jobs: int
    started: float = field(default_factory=time.time)
    rows: list[dict] | None = None
    path: Path | None = None
    error: str = ""


class MnistApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"
    SUB_TITLE = "train small CNNs on MNIST and look inside them"
    BINDINGS = [
        Binding("question_mark", "toggle_help_panel", "Help", key_display="?"),
        Binding("escape", "hide_help_panel", "Close help", show=False, priority=True),  # before the screen's escape
        Binding("q", "back", "Back", show=False),  # not a priority: an Input types the q, and the menu's own q quits
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self, runs_dir: str | Path = "runs", data_dir: str | Path | None = None, service_factory: Callable | None = None
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.data_dir = Path(data_dir) if data_dir else None
        self.board = Board()
        self._service_factory = service_factory
        self.service = None
        self.compare_jobs: list[CompareJob] = []
        self.scans = 0  # looks at the runs folder so far (every SCAN_SECONDS)
        # Published for every engine event, after the board has applied it: screens subscribe in on_mount.
        self.run_updated: Signal = Signal(self, "run-updated")

    # -------------------------------------------------- screens

    def on_mount(self) -> None:
        from mnist_tui.app.screens.menu import MenuScreen

        self.push_screen(MenuScreen())
        self._scan()
        self.set_interval(SCAN_SECONDS, self._scan)

    def _scan(self) -> None:
        """What the board follows, taken here on the UI thread, then a look at the folder in a thread."""
        self.scans += 1
        views = [(v.run_id, v.run_dir, v.active) for v in self.board]
        self._scan_runs(views, self.service.live_dirs() if self.service is not None else [])

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)  # a bad folder never closes the app
    def _scan_runs(self, views: list[tuple[str, str, bool]], live_dirs: list[str]) -> None:
        """Keep the board true to the runs folder, whenever it changes: runs that are training (started by
        an earlier session, another terminal or the CLI) join it, ended runs whose folder was deleted leave
        it, and an ended run whose folder was renamed takes its new name and status from it."""
        from mnist_tui.runfolder.events import RunFailed, RunFinished
        from mnist_tui.runfolder.live import last_events
        from mnist_tui.runfolder.names import RUNNING_SUFFIX, find_renamed, stem
        from mnist_tui.runfolder.runs import read_run
        from mnist_tui.runfolder.status import Status

        here = {stem(d) for d in live_dirs} | {stem(d) for _, d, active in views if d and (active or Path(d).exists())}
        found = []
        try:
            for path in sorted(self.runs_dir.glob("*" + RUNNING_SUFFIX)):
                if stem(path) in here or not (info := read_run(path)) or info.status != Status.RUNNING:
                    continue
                if isinstance(next(iter(last_events(path)[-1:]), None), (RunFinished, RunFailed)):
                    continue  # reopened to resume, and its new life has not logged its start yet: next time
                found.append(info)
        except OSError:
            pass  # an unreadable runs folder: the menu and Runs say so; nothing to follow
        moved = {}  # ended runs whose folder is gone: renamed since (its RunInfo now), or deleted (None)
        for run_id, old, active in views:
            if not active and old and not Path(old).exists():
                folder = find_renamed(Path(old).parent, stem(old))
                if folder is None or not folder.name.endswith(RUNNING_SUFFIX):  # a live one is attached instead
                    moved[run_id] = read_run(folder) if folder else None
        if found or moved:
            self.call_from_thread(self._update_board, found, moved)

    def _update_board(self, infos, moved: dict) -> None:
        """Attach the live runs found; for an ended run's renamed folder, take its place and status from it
        (a reader marked it, or it was resumed and ended elsewhere); let deleted ones go."""
        from mnist_tui.runfolder.names import stem

        changed = self._forget([run_id for run_id, info in moved.items() if info is None])
        for run_id, info in moved.items():
            view = self.board.runs.get(run_id)
            if info is not None and view is not None and not view.active:
                view.run_dir, view.status, view.reason = str(info.path), str(info.status), info.reason or view.reason
                view.summary = dataclasses.replace(
                    view.summary or Summary(), test_acc=info.test_acc, val_acc=info.val_acc
                )
                changed = True
        live = 0
        for info in infos:
            run_id = self._ensure_service().attach(info.path)  # the id it already has, for a run this app started
            if run_id not in self.board.runs:
                self._forget([v.run_id for v in self.board if v.run_dir and stem(v.run_dir) == stem(info.path)])
                self.board.add(
                    run_id, info.model + ("-aug" if info.augment else ""), info.epochs or 0, info.model, info.augment
                )
                live += 1  # the scan finds only runs that are training
                changed = True
        if live and type(self.screen).__name__ != "DashboardScreen":  # there, the new rows say it
            self.notify(f"Following {live} run(s) that are training: press d for the dashboard.", timeout=6)
        if changed:
            for screen in self.screen_stack:  # rows to add or drop, wherever a screen lists runs
                screen.post_message(RunsChanged())

    def _forget(self, run_ids: list[str]) -> bool:
        """Let ended runs go from the board, except those a comparison still waits for; True if any went."""
        waited_for = {r for job in self.compare_jobs if job.rows is None for r in job.run_ids}
        return bool(self.board.forget([r for r in run_ids if r not in waited_for]))

    def open_screen(self, name: str, *args, **kwargs) -> None:
        """Screens are imported when opened, so torch stays out of the menu's start-up."""
        from importlib import import_module

        modules = {
            "train": ("train", "TrainScreen"),
            "dashboard": ("dashboard", "DashboardScreen"),
            "compare": ("dashboard", "CompareScreen"),
            "data": ("data", "DataScreen"),
            "runs": ("runs", "RunsScreen"),
            "results": ("results", "ResultsScreen"),
            "predict": ("predict", "PredictScreen"),
            "model": ("model", "ModelScreen"),
        }
        module, cls = modules[name]
        screen_class = getattr(import_module(f".screens.{module}", __package__), cls)
        if getattr(screen_class, "KEPT", False) and not (args or kwargs):  # mounted once, resumed on each visit
            if not self.is_screen_installed(name):
                self.install_screen(screen_class(), name)
            screen = self.get_screen(name)
            self.push_screen(screen if screen not in self.screen_stack else screen_class())
            return
        self.push_screen(screen_class(*args, **kwargs))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hide_help_panel":  # otherwise escape goes on to the screen's own binding
            return bool(self.screen.query("HelpPanel"))
        if action == "back":  # a dialog answers its own keys
            return len(self.screen_stack) > 2 and not self.screen.is_modal
        return True

    def action_toggle_help_panel(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_back(self) -> None:
        self.pop_screen()

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Textual saves to ~/Downloads, which may not exist ("Failed to save screenshot"): use a folder we make."""
        if path is None:
            from mnist_tui.common.places import screenshots_dir

            folder = screenshots_dir()
            folder.mkdir(parents=True, exist_ok=True)
            path = str(folder)
        return super().deliver_screenshot(filename, path, time_format)

    def get_system_commands(self, screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, name in [
            ("Train a model", "Choose a model and recipe, then watch it train", "train"),
            ("Compare models", "Train 1/2/3-layer and 3-layer+aug in parallel", "compare"),
            ("View data", "Browse MNIST, class counts and augmentation", "data"),
            ("Test predictions", "Draw a digit and see what the network does", "predict"),
            ("Runs", "Every recorded run; open its results", "runs"),
            ("Model", "Layers, filters and feature maps of a run", "model"),
            ("Dashboard", "Every live run, wherever it was started", "dashboard"),
        ]:
            yield SystemCommand(title, help_text, lambda name=name: self.open_screen(name))
        if hasattr(screen, "action_fetch"):  # the menu
            yield SystemCommand("Fetch MNIST", "Download and verify the MNIST files", screen.action_fetch)

    # -------------------------------------------------- training

    def _ensure_service(self):
        if self.service is None:
            from mnist_tui.service.worker import TrainingService

            factory = self._service_factory or (
                lambda: TrainingService(max_jobs=os.cpu_count() or 1, nice=TRAINING_NICE)
            )
            self.service = factory()
            self._drain_events()
        return self.service

    def start_training(self, configs) -> list[str]:
        """Start runs through the worker service (detached processes); their events arrive as TrainingEvent."""
        service = self._ensure_service()
        ids = []
        for config in configs:
            run_id = service.start(config)
            label = config.model + ("-aug" if config.augment else "")
            self.board.add(run_id, label, config.epochs, config.model, config.augment)
            ids.append(run_id)
        return ids

    def start_compare(self, configs, jobs: int) -> CompareJob:
        job = CompareJob(self.start_training(configs), jobs)
        self.compare_jobs.append(job)
        return job

    def resume_run(self, run_dir: Path) -> str:
        from mnist_tui.runfolder.names import stem

        service = self._ensure_service()
        run_id = service.resume(run_dir)
        replaced = [v.run_id for v in self.board if v.run_dir and stem(v.run_dir) == stem(run_dir)]
        for job in self.compare_jobs:  # a comparison waits for the resumed run instead, even one that ended
            if any(r in replaced for r in job.run_ids):
                job.run_ids[:] = [run_id if r in replaced else r for r in job.run_ids]  # a Compare screen shares it
                job.rows = job.path = None  # its table and compare.json are written again when it ends
        self._forget(replaced)
        view = self.board.add(run_id, Path(run_dir).name.split("_")[1], 0)
        view.run_dir = str(run_dir)
        return run_id

    def stop_runs(self, run_ids: list[str]) -> None:
        if self.service is not None:
            for run_id in run_ids:
                self.service.cancel(run_id)
                if run_id in self.board.runs:
                    self.board.runs[run_id].stopping = True

    @work(thread=True, exclusive=True, group="training-events")
    def _drain_events(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        while not worker.is_cancelled:
            event = self.service.next_event(timeout=0.2)
            if event is not None:
                self.post_message(TrainingEvent(event))

    def on_training_event(self, message: TrainingEvent) -> None:
        from mnist_tui.runfolder.events import RunFailed, RunFinished

        event = message.event
        self.board.apply(event)
        if not self.is_running or not self.screen_stack:
            return  # shutting down
        ended = isinstance(event, (RunFinished, RunFailed))
        if ended:
            self._finish_compare_jobs()
        self.run_updated.publish(event)
        if ended:
            for screen in self.screen_stack:  # every screen that lists runs, not only the one on top
                screen.post_message(RunsChanged())
            if isinstance(event, RunFailed):
                self.notify(event.reason, title="Run failed", severity="error", timeout=8, markup=False)

    def _finish_compare_jobs(self) -> None:
        """Write each comparison's table and compare.json when its last run ends, whatever screen is shown."""
        from mnist_tui.service.compare import compare_rows, write_report

        for job in self.compare_jobs:
            views = [self.board.runs[r] for r in job.run_ids if r in self.board.runs]
            if job.rows is not None or any(v.active for v in views):
                continue
            job.rows = compare_rows(
                [
                    (
                        dataclasses.replace(
                            v.summary or Summary(), model=v.model, augment=v.augment, status=str(v.status)
                        ),
                        v.run_dir,
                    )
                    for v in views
                ]
            )
            try:
                job.path = write_report(self.runs_dir, job.rows, job.jobs, job.started)
            except OSError as error:
                job.error = f"could not write compare.json: {error.strerror or error}"
                self.notify(job.error, severity="error", markup=False)

    def live_runs(self) -> list:
        return self.board.active()

    async def action_quit(self) -> None:
        """With runs training, ask: keep them training in the background (the default), or stop them."""
        live = self.live_runs()
        if not live:
            self.exit()
            return
        from mnist_tui.app.screens.quit import QuitScreen

        def chosen(choice: str | None) -> None:
            if choice == "stop":
                self.stop_runs([v.run_id for v in live])
                self.service.close(stop_runs=False)  # each run got its stop request and stops on its own
                self.exit(message=f"Asked {len(live)} run(s) to stop; their checkpoints are kept.")
            elif choice == "keep":
                self.service.close(stop_runs=False)
                self.exit(
                    message=f"{len(live)} run(s) keep training in the background. `mnist-tui watch` follows "
                    "them; `mnist-tui` shows them on the dashboard."
                )

        self.push_screen(QuitScreen(len(live)), chosen)

    def on_unmount(self) -> None:
        # However the app ends (a closed terminal, an error), the runs go on: it only stops following them.
        if self.service is not None:
            self.service.close(stop_runs=False)


def make_app(
    runs_dir: str | Path | None = None, data_dir: str | Path | None = None, service_factory: Callable | None = None
) -> MnistApp:
    """Shared by `mnist-tui` and the tests, so a test can point the app at small data and a temp runs dir."""
    runs_dir = runs_dir or os.environ.get("MNIST_TUI_RUNS", "runs")
    return MnistApp(runs_dir, data_dir, service_factory)
