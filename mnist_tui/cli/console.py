"""Plain-text output for the headless CLI: epoch lines and a one-line progress bar (no torch, no Textual)."""

from __future__ import annotations

import os
import sys

from mnist_tui.common.text import pct
from mnist_tui.runfolder import events as ev


def epoch_line(e: ev.EpochCompleted) -> str:
    """Keras verbose=2 style."""
    return (
        f"Epoch {e.epoch}/{e.epochs} - {e.seconds:.1f}s - {e.images_per_sec:,.0f} img/s - loss: {e.train_loss:.4f} - "
        f"accuracy: {e.train_acc:.4f} - val_loss: {e.val_loss:.4f} - val_accuracy: {e.val_acc:.4f} - lr: {e.lr:.2e}"
        + (" *" if e.best else "")
    )


class EpochPrinter:
    """The CLI's `report` callback: epoch lines, plus a live bar when stdout is a terminal."""

    def __init__(self, stream=None, tty: bool | None = None, prefix: str = ""):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.prefix = prefix
        self._bar_shown = False
        self.failed = False  # a RunFailed was printed
        self.closed = False  # the output's reader has gone: print nothing more

    def __call__(self, event) -> None:
        if isinstance(event, ev.RunStarted):
            self._print(
                f"{event.model}{' + augmentation' if event.augment else ''}: {event.params:,} params, "
                f"{event.device} {event.precision}, {event.epochs} epochs of {event.batches_per_epoch} batches"
            )
        elif isinstance(event, ev.BatchProgress) and self.tty:
            width = 24
            done = int(width * event.batch / event.batches)
            bar = "█" * done + "░" * (width - done)
            self._write(
                f"\r{self.prefix}Epoch {event.epoch}/{event.epochs} {bar} {event.batch}/{event.batches} "
                f"loss {event.loss:.4f} {event.images_per_sec:,.0f} img/s ETA {event.eta_seconds:.0f}s "
            )
            self._bar_shown = True
        elif isinstance(event, ev.EpochCompleted):
            self._print(epoch_line(event))
        elif isinstance(event, ev.RunFinished):
            s = event.summary
            self._print(f"{event.status}: run folder {event.run_dir}" + (f" ({s.reason})" if s.reason else ""))
            took = f"{s.train_seconds:.1f}s" if s.train_seconds is not None else "time unknown"
            if s.best_epoch:
                self._print(
                    f"test_acc: {pct(s.test_acc)} ({s.kept} epoch {s.best_epoch}, val_acc {pct(s.val_acc)}, {took})"
                )
            else:
                self._print(f"no epoch ended, so there is no checkpoint ({took})")
        elif isinstance(event, ev.RunFailed):
            self.failed = True
            self._print(f"failed: {event.reason} (run folder {event.run_dir})")

    def _print(self, line: str) -> None:
        self._write(("\r\033[K" if self._bar_shown else "") + self.prefix + line + "\n")
        self._bar_shown = False

    def _write(self, text: str) -> None:
        """Print, unless the reader has gone (`train | tee log` and Ctrl-C, which ends tee too): a closed
        pipe stops the printing, never the run, which goes on to end as it was asked to."""
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            self.closed = True
            try:  # what is still buffered would fail again at exit: send it nowhere
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
            except (OSError, ValueError):
                pass
