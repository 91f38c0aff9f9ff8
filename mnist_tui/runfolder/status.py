"""Where a run is: the one status vocabulary, the groups of statuses, and why a run has no test score."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Where a run is. The folder's suffix and summary.json's `status` use these words."""

    QUEUED = "queued"  # asked for, not started yet (a queue's place, an experiment's trial)
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"  # stopped on request; its checkpoint is kept and it can be resumed
    INTERRUPTED = "interrupted"  # its process went away (a signal, a kill, a crash of the machine); resumable
    FAILED = "failed"
    PRUNED = "pruned"  # an experiment's search stopped it early at an epoch boundary; it keeps its folder
    UNREADABLE = "unreadable"  # a folder whose files cannot be read; shown, never used

    def __str__(self) -> str:
        return self.value


SUCCESS = (Status.FINISHED, Status.CANCELLED, Status.PRUNED)  # ended as asked: a command that ran it exits 0
WITH_WEIGHTS = (Status.FINISHED, Status.CANCELLED, Status.PRUNED, Status.INTERRUPTED)  # may hold a usable best.pt
RESUMABLE = (Status.CANCELLED, Status.INTERRUPTED)
ACTIVE = (Status.QUEUED, Status.RUNNING)


def why_untested(status: str, reason: str | None = None) -> str:
    """Why a run has no recorded test accuracy, as a clause for a sentence ("it failed before its test pass:
    ..."), for `evaluate` and the app's Results screen."""
    detail = f": {reason}" if reason else ""
    return {
        Status.RUNNING: "it is still training; this scores its best checkpoint so far",
        Status.CANCELLED: "it was cancelled before its test pass",
        Status.PRUNED: "its experiment's search stopped it early, before a test pass",
        Status.INTERRUPTED: f"it was interrupted before its test pass{detail}",
        Status.FAILED: f"it failed before its test pass{detail}",
        Status.UNREADABLE: f"its summary.json cannot be read{detail}",
    }.get(status, f"its summary.json holds none (status {status}{detail})")
