"""`python -m mnist_tui`: the same entry point as the `mnist-tui` script."""

import sys

from mnist_tui.cli.main import main

if __name__ == "__main__":  # spawn children re-import __main__; the guard keeps them from re-running the CLI
    sys.exit(main())
