"""The OpenMP wait policy: set before torch loads, inherited by children, and never over the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_tui.common.omp import POLICY, choose_wait_policy

ROOT = Path(__file__).resolve().parent.parent


def test_sets_the_policy_when_none_is_set():
    environ = {"PATH": "/bin"}
    assert choose_wait_policy(environ) == POLICY
    assert environ == {"PATH": "/bin", **POLICY}


@pytest.mark.parametrize(
    "name, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "10000"), ("KMP_BLOCKTIME", "0")]
)
def test_a_users_choice_stands(name, value):
    environ = {name: value}
    assert choose_wait_policy(environ) == {}
    assert environ == {name: value}


def test_the_cli_sets_it_before_torch_and_children_inherit_it():
    script = (
        "import os, subprocess, sys\n"
        "from mnist_tui.cli import main as cli\n"
        "try:\n    cli.main(['no-such-command'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))\n"
        "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"OMP_WAIT_POLICY\"))'],"
        " capture_output=True, text=True).stdout.strip())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["False", POLICY["OMP_WAIT_POLICY"], POLICY["OMP_WAIT_POLICY"]]
