"""Mutation check over the pure modules: do the tests notice when the code is wrong?

Each mutant changes one operator or constant in one function (a comparison flipped, + for -, a slice
reversed or not, `and` for `or`, a number off by one). The script copies the project to a temporary
folder, applies one mutant at a time there (never to the working tree, which live runs may import), runs
the tests that cover the module, and prints which mutants survived: each survivor is a change to the
code that no test would catch. The baseline, measured in the same run, is the unmutated suite passing.

    python benchmarks/mutants.py                 # every target module, every mutant
    python benchmarks/mutants.py --max 15        # at most 15 mutants per module, chosen with a fixed seed
"""

from __future__ import annotations

import argparse
import ast
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# module -> the tests that cover it (the fast ones: no training)
TARGETS = {
    "mnist_tui/engine/evaluate.py": ["tests/test_evaluate.py", "tests/test_app_results.py"],
    "mnist_tui/experiments/stats.py": ["tests/test_experiments.py"],
    "mnist_tui/runfolder/names.py": ["tests/test_runfolder.py", "tests/test_training.py"],
    "mnist_tui/runfolder/live.py": ["tests/test_runfolder.py", "tests/test_faults_runs.py"],
}
SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


def sites(tree: ast.AST) -> list[tuple[int, str]]:
    """Every place a mutant can go: (index among walked nodes, what it does)."""
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in SWAPS:
            found.append(
                (index, f"line {node.lineno}: {type(node.ops[0]).__name__} -> {SWAPS[type(node.ops[0])].__name__}")
            )
        elif isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in SWAPS:
            found.append((index, f"line {node.lineno}: {type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
            found.append((index, f"line {node.lineno}: {node.value!r} -> {node.value + 1!r}"))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.step is not None:
            found.append((index, f"line {node.lineno}: slice step dropped"))
    return found


def mutate(source: str, index: int) -> str:
    tree = ast.parse(source)
    for i, node in enumerate(ast.walk(tree)):
        if i != index:
            continue
        if isinstance(node, ast.Compare):
            node.ops[0] = SWAPS[type(node.ops[0])]()
        elif isinstance(node, (ast.BinOp, ast.BoolOp)):
            node.op = SWAPS[type(node.op)]()
        elif isinstance(node, ast.Constant):
            node.value = node.value + 1
        elif isinstance(node, ast.Subscript):
            node.slice.step = None
        break
    return ast.unparse(tree)


def run_tests(copy: Path, tests: list[str]) -> bool:
    """True when the tests pass (the mutant survived)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True,
        timeout=600,
    )
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=0, help="mutants per module (0: all)")
    parser.add_argument("--only", help="one target module path")
    args = parser.parse_args()
    survivors, total = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "project"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "__pycache__", "*.egg-info"))
        for module, tests in TARGETS.items():
            if args.only and module != args.only:
                continue
            path = copy / module
            original = path.read_text()
            start = time.perf_counter()
            if not run_tests(copy, tests):
                print(f"{module}: the unmutated tests fail; fix them first")
                return 1
            baseline = time.perf_counter() - start
            candidates = sites(ast.parse(original))
            if args.max and len(candidates) > args.max:
                candidates = sorted(random.Random(0).sample(candidates, args.max))
            killed = 0
            for index, what in candidates:
                path.write_text(mutate(original, index))
                survived = run_tests(copy, tests)
                killed += not survived
                if survived:
                    survivors.append(f"{module} {what}")
            path.write_text(original)
            total += len(candidates)
            print(f"{module}: {killed}/{len(candidates)} mutants killed (baseline suite {baseline:.1f} s)", flush=True)
    print(f"\n{total - len(survivors)}/{total} killed; survivors:")
    for line in survivors:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
