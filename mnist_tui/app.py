"""The Textual app: holds the training service and the run board, and routes events to screens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding

from .board import Board
from .messages import RunsChanged, TrainingEvent


class MnistApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"
    SUB_TITLE = "train small CNNs on MNIST and look inside them"
    BINDINGS = [
        Binding("question_mark", "toggle_help_panel", "Help", key_display="?"),
        Binding("escape", "hide_help_panel", show=False, priority=True),  # closes the keys panel before a screen
        Binding("q", "back", "Back", show=False),  # not a priority: an Input types the q, and the menu's own q quits
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, runs_dir: str | Path = "runs", data_dir: str | Path | None = None,
                 service_factory: Callable | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.data_dir = Path(data_dir) if data_dir else None
        self.board = Board()
        self._service_factory = service_factory
        self.service = None

    # -------------------------------------------------- screens

    def on_mount(self) -> None:
        from .screens.menu import MenuScreen

        self.push_screen(MenuScreen())

    def open_screen(self, name: str, *args, **kwargs) -> None:
        """Screens are imported when opened, so torch stays out of the menu's start-up."""
        from importlib import import_module

        modules = {
            "train": ("train", "TrainScreen"), "dashboard": ("dashboard", "DashboardScreen"),
            "compare": ("dashboard", "CompareScreen"), "data": ("data", "DataScreen"),
            "runs": ("runs", "RunsScreen"), "results": ("results", "ResultsScreen"),
            "predict": ("predict", "PredictScreen"),
        }
        module, cls = modules[name]
        screen = getattr(import_module(f".screens.{module}", __package__), cls)(*args, **kwargs)
        self.push_screen(screen)

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

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Textual saves to ~/Downloads, which may not exist ("Failed to save screenshot"): use a folder we make."""
        if path is None:
            from .places import screenshots_dir

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
            ("Dashboard", "Live view of the runs started in this session", "dashboard"),
        ]:
            yield SystemCommand(title, help_text, lambda name=name: self.open_screen(name))

    # -------------------------------------------------- training

    def start_training(self, configs) -> list[str]:
        """Start runs through the worker service (spawn processes); events arrive as TrainingEvent."""
        if self.service is None:
            from .worker import TrainingService

            factory = self._service_factory or (lambda: TrainingService(max_jobs=os.cpu_count() or 1))
            self.service = factory()
            self._drain_events()
        ids = []
        for config in configs:
            run_id = self.service.start(config)
            label = config.model + ("-aug" if config.augment else "")
            self.board.add(run_id, label, config.epochs)
            ids.append(run_id)
        return ids

    def stop_runs(self, run_ids: list[str]) -> None:
        if self.service is not None:
            for run_id in run_ids:
                self.service.cancel(run_id)

    @work(thread=True, exclusive=True, group="training-events")
    def _drain_events(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        while not worker.is_cancelled:
            event = self.service.next_event(timeout=0.2)
            if event is not None:
                self.post_message(TrainingEvent(event))

    def on_training_event(self, message: TrainingEvent) -> None:
        from .events import RunFailed, RunFinished

        self.board.apply(message.event)
        if not self.is_running or not self.screen_stack:
            return  # shutting down
        self.screen.post_message(TrainingEvent(message.event))
        if isinstance(message.event, (RunFinished, RunFailed)):
            self.screen.post_message(RunsChanged())
            if isinstance(message.event, RunFailed):
                self.notify(message.event.reason, title="Run failed", severity="error", timeout=8)

    def on_unmount(self) -> None:
        # However the app ends (q, ctrl+q, an error), running children are cancelled and reaped here.
        if self.service is not None:
            self.service.close(timeout=2)


def make_app(runs_dir: str | Path | None = None, data_dir: str | Path | None = None,
             service_factory: Callable | None = None) -> MnistApp:
    """Shared by `mnist-tui` and the tests, so a test can point the app at small data and a temp runs dir."""
    runs_dir = runs_dir or os.environ.get("MNIST_TUI_RUNS", "runs")
    return MnistApp(runs_dir, data_dir, service_factory)
