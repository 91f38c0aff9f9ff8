"""The run folder while a run trains: every write to it goes through one `Recorder`, and the resume state
is saved and read here."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch

from mnist_tui.common.fileio import write_atomic
from mnist_tui.runfolder import events as ev
from mnist_tui.runfolder import live
from mnist_tui.runfolder.names import RUNNING_SUFFIX, final_name, move
from mnist_tui.runfolder.record import (
    CHECKPOINT,
    CONFIG,
    RESUME,
    RunError,
    Summary,
    write_json,
    write_metrics,
    write_summary,
)
from mnist_tui.runfolder.status import Status


class Recorder:
    """Every write to a run folder while it trains: config, the event log, heartbeat, metrics,
    checkpoints, the resume state and the summary. Rank 0 only: other ranks get `Recorder(None)`,
    which writes nothing but still passes events on to `report`."""

    def __init__(self, run_dir: Path | None, run_id: str, report: Callable[[object], None]):
        self.run_dir, self.run_id, self._report = run_dir, run_id, report
        self.log = live.EventLog(run_dir) if run_dir else None
        self.heartbeat = live.Heartbeat(run_dir, run_id) if run_dir else None

    def __call__(self, event) -> None:
        if self.log is not None:
            self.log(event)
        self._report(event)

    def write_config(self, payload: dict) -> None:
        if self.run_dir:
            write_json(self.run_dir / CONFIG, payload, parents=False)

    def epoch_done(self, history: list[dict], checkpoint: tuple | None, resume_state: dict) -> None:
        if not self.run_dir:
            return
        if checkpoint is not None:
            checkpoint.save(self.run_dir / CHECKPOINT, parents=False)
        write_metrics(self.run_dir, history, parents=False)
        save_resume_state(self.run_dir, resume_state)

    def end(self, summary: Summary, status: str, test_acc: float | None, event_for) -> Path | None:
        """Write the summary, log the final event with the final folder name, then rename the folder."""
        if not self.run_dir:
            self._report(event_for(""))
            return None
        self.heartbeat.stop()
        write_summary(self.run_dir, summary, parents=False)
        if status == Status.FINISHED:
            (self.run_dir / RESUME).unlink(missing_ok=True)  # nothing left to resume
        target = (
            final_name(self.run_dir, status, test_acc) if self.run_dir.name.endswith(RUNNING_SUFFIX) else self.run_dir
        )
        (self.run_dir / live.STOP).unlink(missing_ok=True)
        event = event_for(str(target))
        if self.log is not None:
            self.log(event)
        if target != self.run_dir:
            move(self.run_dir, target)  # the name the end event announced
        self.run_dir = target
        self._report(event)  # after the folder is final: a failing reporter cannot leave it half-ended
        return target

    def failed(self, summary: Summary, status: str, reason: str) -> None:
        """End a run that raised: `interrupted` (resumable) or `failed`."""

        def end_event(where):
            if status == Status.INTERRUPTED:
                return ev.RunFinished(self.run_id, where, status, summary)
            return ev.RunFailed(self.run_id, where, reason)

        if self.run_dir is not None and not self.run_dir.is_dir():  # deleted under the run: nothing to record into
            self.heartbeat.stop()
            self._report(ev.RunFailed(self.run_id, str(self.run_dir), reason))
            return
        try:
            self.end(summary, status, None, end_event)
        except OSError as write_error:  # a full disk: say why the folder could not record the failure
            why = f"{reason} (and the run folder could not be updated: {write_error})"
            self._report(ev.RunFailed(self.run_id, str(self.run_dir), why))


def save_resume_state(run_dir: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(run_dir / RESUME, buffer.getvalue(), parents=False)


def load_resume_state(run_dir: Path) -> dict:
    path = Path(run_dir) / RESUME
    if not path.exists():
        raise RunError(
            f"{Path(run_dir).name} has no resume state ({RESUME}); it ended before its first epoch "
            "or was trained by an older version"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is one message for the user
        raise RunError(f"{path} is not a readable resume state ({type(error).__name__})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise RunError(f"{path} is not a resume state")
    return state
