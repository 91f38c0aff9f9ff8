"""The OpenMP wait policy, set in the environment before torch loads its OpenMP runtime."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# Any of these means the user chose how OpenMP threads wait: theirs stands.
USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

# PASSIVE: an idle OpenMP thread sleeps instead of spinning at a barrier. Spinning wins a little when a
# process has its cores to itself, but two trainings sharing cores spin away each other's time slices.
# Read by libgomp (PyTorch's Linux wheels) and LLVM/Intel OpenMP (macOS, Intel builds) alike.
POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}


def choose_wait_policy(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set `POLICY` in `environ` unless the user set a wait policy or spin count; return what was set.

    It acts on a process whose torch is not imported yet, and on every child started after it (the
    worker's runs, torchrun's ranks), which inherit the environment."""
    if any(name in environ for name in USER_CHOICES):
        return {}
    environ.update(POLICY)
    return dict(POLICY)
