"""Time from launch to the menu on screen: `mnist-tui` against a bare Textual app, in a real pseudo-terminal.

Each round starts both programs as new processes under an 80x24 pty and stops the clock when the menu's
last item has been written to the terminal. The bare app is what any Textual program costs (a Header, a
five-item OptionList and a Footer), so the ratio is what mnist-tui adds. Rounds alternate the two, so a
busy machine slows both alike; the medians are compared.

    python benchmarks/startup.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write

BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Header, OptionList

class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield OptionList("Train", "Compare models", "View data", "Test predictions", "Runs")
        yield Footer()

Bare().run()
"""
MENU_APP = "import sys; from mnist_tui.cli.main import main; sys.exit(main([]))"
MARKERS = {"bare": b"Runs", "mnist-tui": b"every recorded run"}  # the last item of each menu


def time_to_menu(code: str, marker: bytes, env: dict, timeout: float = 30.0) -> float:
    """Seconds from fork to the moment `marker` appears in what the program wrote to its terminal."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child: the program under test
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    try:
        while marker not in seen:
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"no {marker!r} after {timeout} s; the screen so far: {seen[-400:]!r}")
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        return time.perf_counter() - start
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mnist-tui-startup-"))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLUMNS": "80",
        "LINES": "24",
        "MNIST_TUI_RUNS": str(scratch / "runs"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    times: dict[str, list[float]] = {"bare": [], "mnist-tui": []}
    time_to_menu(BARE_APP, MARKERS["bare"], env)  # warm the OS file cache for both
    time_to_menu(MENU_APP, MARKERS["mnist-tui"], env)
    for _ in range(args.rounds):
        times["bare"].append(time_to_menu(BARE_APP, MARKERS["bare"], env))
        times["mnist-tui"].append(time_to_menu(MENU_APP, MARKERS["mnist-tui"], env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["mnist-tui"] / medians["bare"]
    print(
        table(
            ["program", "median s", "min s", "max s"],
            [[name, f"{medians[name]:.3f}", f"{min(v):.3f}", f"{max(v):.3f}"] for name, v in times.items()],
            "lrrr",
        )
    )
    print(f"\nmnist-tui menu / bare Textual app: {ratio:.2f}x (target <= 1.5x), {args.rounds} rounds")
    path = write("startup", {"rounds": args.rounds, "seconds": times, "medians": medians, "ratio": ratio})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
