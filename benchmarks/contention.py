"""Two trainings at once: wall time of one `--preset fast` run alone and of two started together, per
OpenMP wait policy, in the same run.

Each policy is measured as: one run alone, then two at once (seeds 0 and 1), each a fresh
`python -m mnist_tui train` process with all cores' threads (the default). The policies:
- `spin`: the OpenMP library's own default, stated explicitly (libgomp spins 300,000 times at a barrier
  before it sleeps, LLVM/Intel OpenMP 200 ms), since the CLI sets its own policy when none is set;
- `ours`: what `mnist_tui.common.omp.choose_wait_policy` sets;
- any `--policy NAME=VALUE[,NAME=VALUE]` given, e.g. `--policy GOMP_SPINCOUNT=10000`.
A pair that runs past `--timeout` times the alone run is stopped and reported as such. The figures are
ratios: pair wall time / alone wall time (target <= 2.3), and each alone time against `spin`'s.
Run: `python benchmarks/contention.py [--quick] [--policy ...]`. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, write

from mnist_tui.common.omp import POLICY, USER_CHOICES

ROOT = Path(__file__).resolve().parent.parent
SPIN = {"GOMP_SPINCOUNT": "300000", "KMP_BLOCKTIME": "200"}  # the libraries' defaults, made explicit


def parse_policy(text: str) -> dict[str, str]:
    pairs = [item.partition("=") for item in text.split(",")]
    if not all(name and sep for name, sep, _ in pairs):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE[,NAME=VALUE], got {text!r}")
    return {name: value for name, _, value in pairs}


def start(seed: int, policy: dict[str, str], runs_dir: str, extra: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in USER_CHOICES}
    env.update(policy, PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    command = [
        sys.executable,
        "-m",
        "mnist_tui",
        "train",
        "--preset",
        "fast",
        "--seed",
        str(seed),
        "--runs-dir",
        runs_dir,
        *extra,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def timed(
    seeds: list[int], policy: dict[str, str], extra: list[str], timeout: float
) -> tuple[float, list[float], bool]:
    """Wall seconds until all runs ended, each run's seconds, and whether they finished in time."""
    with tempfile.TemporaryDirectory() as runs_dir:
        begin = time.perf_counter()
        procs = [start(seed, policy, runs_dir, extra) for seed in seeds]
        ends: list[float] = []
        finished = True
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, timeout - (time.perf_counter() - begin)))
            except subprocess.TimeoutExpired:
                finished = False
                for other in procs:
                    other.kill()
                for other in procs:
                    other.wait()
                break
            if proc.returncode != 0:
                raise SystemExit(f"contention: a run failed: {proc.stderr.read().strip().splitlines()[-1:]}")
            ends.append(time.perf_counter() - begin)
        return time.perf_counter() - begin, ends, finished


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 6,000 training images per run")
    parser.add_argument(
        "--policy",
        type=parse_policy,
        action="append",
        default=[],
        help="another wait policy to measure, NAME=VALUE[,NAME=VALUE] (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="stop a pair after this many times the alone run")
    args = parser.parse_args(argv)
    extra = ["--train-subset", "6000"] if args.quick else []
    policies = {"spin": SPIN, "ours": POLICY}
    policies.update({",".join(f"{k}={v}" for k, v in p.items()): p for p in args.policy})
    rows, results = [], {}
    for name, policy in policies.items():
        alone, _, _ = timed([0], policy, extra, timeout=float("inf"))
        pair, each, finished = timed([0, 1], policy, extra, timeout=args.timeout * alone)
        results[name] = {
            "env": policy,
            "alone_s": alone,
            "pair_s": pair,
            "pair_each_s": each,
            "pair_finished": finished,
            "pair_over_alone": pair / alone,
        }
        print(f"{name}: alone {alone:.1f} s, pair {pair:.1f} s{'' if finished else ' (stopped)'}", flush=True)
    base = results["spin"]["alone_s"]
    for name, r in results.items():
        r["alone_over_spin"] = r["alone_s"] / base
        pair = f"{r['pair_s']:.1f}" if r["pair_finished"] else f"> {r['pair_s']:.0f} (stopped)"
        rows.append(
            [
                name,
                " ".join(f"{k}={v}" for k, v in r["env"].items()),
                f"{r['alone_s']:.1f}",
                pair,
                f"{r['pair_over_alone']:.2f}x" + ("" if r["pair_finished"] else "+"),
                f"{(r['alone_over_spin'] - 1) * 100:+.0f}%",
            ]
        )
    print(table(["policy", "environment", "alone s", "two at once s", "pair / alone", "alone vs spin"], rows))
    print(f"load average {os.getloadavg()[0]:.2f} at the end; targets: pair / alone <= 2.3x, alone within 5% of spin")
    path = write("contention" + ("-quick" if args.quick else ""), {"quick": args.quick, "results": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
