"""Messages shared across the app, named for what happened."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class TrainingEvent(Message, bubble=False):
    """An engine event (RunStarted, BatchProgress, EpochCompleted, RunFinished, RunFailed) arrived from a run.

    It does not bubble: the app forwards it to the screen, and bubbling back up would apply it again."""

    event: object

    def can_replace(self, message: Message) -> bool:
        # Batch progress arrives in bursts: a newer one for the same run replaces an unprocessed older one.
        from mnist_tui.runfolder.events import BatchProgress

        return (
            isinstance(message, TrainingEvent)
            and isinstance(self.event, BatchProgress)
            and isinstance(message.event, BatchProgress)
            and message.event.run_id == self.event.run_id
        )


class RunsChanged(Message, bubble=False):
    """A run folder was added, finished, deleted or marked default."""


@dataclass
class DataStatusChanged(Message):
    """The MNIST files were checked or fetched; `ready` says whether they are usable."""

    ready: bool
    line: str  # the status line the menu shows
