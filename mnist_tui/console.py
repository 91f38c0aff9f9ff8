"""Plain-text output for the headless CLI: tables, percentages, epoch lines and a one-line progress bar.

No torch, no Textual: the CLI uses it before torch loads, and the screens use `pct` too."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from . import events as ev


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """A fixed-width table; `align` is one char per column, 'l' or 'r' (numbers right by default)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l" for i in range(len(headers)))
    lines = []
    for n, row in enumerate(cells):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def pct(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage: 0.98765 -> "98.77%"; None -> "-"."""
    return "-" if value is None else f"{value * 100:.{digits}f}%"


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
            self._print(
                f"{event.status}: run folder {event.run_dir}" + (f" ({s['reason']})" if s.get("reason") else "")
            )
            if s.get("best_epoch"):
                self._print(
                    f"test_acc: {pct(s.get('test_acc'))} ({s.get('kept', 'best')} epoch {s.get('best_epoch')}, "
                    f"val_acc {pct(s.get('val_acc'))}, {s.get('train_seconds', 0):.1f}s)"
                )
            else:
                self._print(f"no epoch ended, so there is no checkpoint ({s.get('train_seconds', 0):.1f}s)")
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
