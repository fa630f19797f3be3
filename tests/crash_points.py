"""Run `doclstm` in a child process that SIGKILLs itself at the Nth call of a chosen
function: a crash at an exact, repeatable point (a rename, a database commit).

    python -m tests.crash_points TARGET N COUNT_FILE -- doclstm arguments...

TARGET is `module:attribute` (`os:replace`, `sqlalchemy.orm:Session.commit`),
or several joined by commas that count as one sequence of calls;
N = 0 counts the calls of an uninterrupted run into COUNT_FILE instead, so a
test can pick its kill points among them (`kill_points`).
"""

from __future__ import annotations

import atexit
import importlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_killed_at(
    target: str, n: int, args: list[str], cwd: Path, count_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`doclstm ARGS` killed at call `n` of `target` (n = 0: run whole, count the calls)."""
    command = [
        sys.executable,
        "-m",
        "tests.crash_points",
        target,
        str(n),
        str(count_file or os.devnull),
        "--",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CRASH_POINTS", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def calls_in_a_whole_run(target: str, args: list[str], cwd: Path, count_file: Path) -> int:
    done = run_killed_at(target, 0, args, cwd, count_file)
    assert done.returncode == 0, done.stderr[-3000:]
    return int(count_file.read_text())


def kill_points(calls: int, how_many: int, seed: int) -> list[int]:
    """The first and last call, and `how_many - 2` others drawn with `seed`; every call
    when CRASH_POINTS=all is set (the exhaustive run BENCHMARKS.md, "Faults injected", reports)."""
    if os.environ.get("CRASH_POINTS") == "all":
        return list(range(1, calls + 1))
    inner = list(range(2, calls))
    drawn = random.Random(seed).sample(inner, min(len(inner), max(how_many - 2, 0)))
    return sorted({1, calls, *drawn})


def _install(targets: str, n: int, count_file: str) -> None:
    calls = 0

    def wrap(original: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        return counted

    for target in targets.split(","):
        module_name, _, attribute = target.partition(":")
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, wrap(getattr(owner, name)))
    if n == 0:
        atexit.register(lambda: Path(count_file).write_text(str(calls)))


if __name__ == "__main__":
    target, n, count_file, dashes, *rest = sys.argv[1:]
    assert dashes == "--", "usage: TARGET N COUNT_FILE -- doclstm arguments"
    _install(target, int(n), count_file)
    sys.argv = ["doclstm", *rest]
    from doclstm.cli.commands import main

    main()
