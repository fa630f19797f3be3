"""Wall time of `doclstm predict` (one text) and `doclstm score` (20 documents), process
start-up included, against `python -c "import torch"` measured in the same run.

Each command runs in a fresh process, in turns, `--repeat` times; the best run of each
is reported, with its ratio to the bare torch import (the least any process that runs
a model must pay). The model is the champion of the workspace's registry, cached
(so run `make run` first), or `--model`. Score writes to a new folder each time, so
every run scores all 20 documents and writes the drift report. Goal: each command
under 3 s on the 2-core CPU.

`doclstm score` returns once its outputs and drift report are written; a detached
process then logs the drift metrics on the version's MLflow run. The benchmark waits
for that process before the next command (so no command shares the cores with it)
and prints how long after the start of the score the metrics were in MLflow.

    .venv/bin/python -m benchmarks.cli_latency [--model MODEL] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCLSTM = [sys.executable, "-m", "doclstm.cli"]
LOGGED = "drift metrics in MLflow"  # seconds from the score's start
TEXT = "The striker scored twice in the second half and the club went top of the league."


def _documents(folder: Path, count: int = 20) -> Path:
    for i in range(count):
        label = ("sport", "business")[i % 2]
        (folder / label).mkdir(parents=True, exist_ok=True)
        (folder / label / f"{i:02d}.txt").write_text(f"{TEXT} Report number {i}.\n")
    return folder


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def _drift_metrics_logged(out: Path) -> bool | None:
    """Wait for the detached drift logger of the score run into `out`; whether it logged
    (None: a model folder, which has no MLflow run to log on)."""
    from doclstm.scoring.drift_logger import wait_for_outcome

    reports = list(out.glob("*/*/_drift/drift.json"))  # <model>/<version>/_drift/
    if not reports or not reports[0].parents[1].name.isdigit():
        return None
    outcome = wait_for_outcome(reports[0], timeout=120)
    if outcome is None:
        sys.exit("the drift logger wrote no outcome in 120 s")
    if outcome["error"]:
        sys.exit(f"the drift logger failed: {outcome['error']}")
    return bool(outcome["logged"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="default: the registry champion")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory(prefix="doclstm-latency-") as tmp:
        source = _documents(Path(tmp) / "docs")
        commands = {
            "import torch": [sys.executable, "-c", "import torch"],
            "predict, 1 text": [*DOCLSTM, "predict", TEXT, "--json", *model],
            "score, 20 documents": [*DOCLSTM, "score", "--input", str(source), *model],
        }
        runs: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.repeat):
            for name, command in commands.items():
                if not name.startswith("score"):
                    runs[name].append(_seconds(command))
                    continue
                out = Path(tmp) / f"out{i}"
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                runs[name].append(_seconds([*command, "--output", str(out)]))
                logged = _drift_metrics_logged(out)
                if logged is not None:
                    runs.setdefault(LOGGED, []).append(time.perf_counter() - started)
    base = min(runs["import torch"])
    for name, seconds in runs.items():
        best, median = min(seconds), sorted(seconds)[len(seconds) // 2]
        timed = name not in ("import torch", LOGGED)
        goal = f"  ({'met' if best < 3 else 'missed'}: < 3 s)" if timed else ""
        print(
            f"{name:>20}: best {best:5.2f} s, median {median:5.2f} s, "
            f"ratio to import torch {best / base:4.2f}{goal}"
        )


if __name__ == "__main__":
    main()
