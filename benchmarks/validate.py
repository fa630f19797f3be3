"""Validate on IMDB: the polars first pass against the code before it, time and memory.

Baseline: `tasks/validate.py` as it was at `--before` (default b2d78bf, the last
commit whose first pass was a Python loop over Parquet batches with sets of
16-byte digests), loaded from git into this run, so both versions run on the same
machine, the same ingested data and today's other modules. Measured, each in a
fresh process, taken in turns, best of `--repeat` for time and the highest peak
RSS (VmHWM) of the runs:

- the first pass alone (before: `_take_census`; now: doclstm/sources/census.py);
- the whole validate stage, cold (the first pass, the Great Expectations suite
  batch by batch, the Parquet writes, the Data Docs).

On the archive's members once (100,002) and four times over (renamed copies,
which the split hash spreads over train and val, so the 4x data has val rows that
leak from train). The two versions must quarantine the same rows for the same
reasons; the polars version must be at least as fast, and its peak RSS at 4x at
most 1.15 times that at 1x.

    .venv/bin/python -m benchmarks.validate [--archive aclImdb_v1.tar.gz]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from benchmarks.arguments import IMDB_ARCHIVE
from benchmarks.ingest import copies, stage
from doclstm.config.params import ValidateParams
from doclstm.storage.manifest import StageManifest

BEFORE = "b2d78bf"
REPO = Path(__file__).resolve().parents[1]
PARTS = ("first pass", "stage")
VERSIONS = ("before", "polars")


def load_before(ref: str) -> types.ModuleType:
    """`tasks/validate.py` at `ref`, as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:tasks/validate.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("validate_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{ref}:tasks/validate.py", "exec"), module.__dict__)
    return module


def _measure(part: str, version: str, workspace: Path, out: Path, ref: str) -> dict[str, Any]:
    if version == "before":
        code = load_before(ref)
    else:
        import doclstm.tasks.validate as code
    ingested = workspace / "data/ingested"
    started = time.perf_counter()
    if part == "first pass":
        census = code._take_census(ingested, StageManifest.load(ingested))
        found = {"rows": census.rows, "train_labels": dict(census.train_labels)}
    else:
        result = code.validate_documents(
            ValidateParams(), ingested, out / "validated", out / "quarantine", out / "reports"
        )
        summary = json.loads((out / "reports/summary.json").read_text())
        found = {"passed": result.passed, "reasons": summary["reasons"]}
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "mib": _own_peak_kib() / 1024, **found}


def _own_peak_kib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure(part: str, version: str, workspace: Path, out: Path, ref: str) -> dict[str, Any]:
    """One run in a fresh process, so its peak RSS is its own."""
    done = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.validate", "--before", ref,
            "--measure", part, version, str(workspace), str(out),
        ],
        check=True, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=IMDB_ARCHIVE)
    parser.add_argument("--before", default=BEFORE, help="git ref of the baseline validate")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        part, version, workspace, out = args.measure
        print(json.dumps(_measure(part, version, Path(workspace), Path(out), args.before)))
        return
    archive = args.archive.resolve()
    if not archive.is_file():
        sys.exit(f"{archive}: not found; pass --archive PATH")
    with tempfile.TemporaryDirectory(prefix="doclstm-bench-") as tmp:
        runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for times in (1, 4):
            workspace = Path(tmp) / f"ws{times}"
            documents, _ = stage(copies(archive, Path(tmp) / f"{times}x.tar.gz", times), workspace)
            print(f"{times}x: {documents:,} documents ingested", flush=True)
            for i in range(args.repeat):
                for part in PARTS:
                    for version in VERSIONS:
                        out = Path(tmp) / f"out-{times}-{version}-{i}"
                        run = measure(part, version, workspace, out, args.before)
                        runs.setdefault((part, version, times), []).append(run)
        report(runs)


def report(runs: dict[tuple[str, str, int], list[dict[str, Any]]]) -> None:
    best = {key: min(r["seconds"] for r in found) for key, found in runs.items()}
    peak = {key: max(r["mib"] for r in found) for key, found in runs.items()}
    for part in PARTS:
        for times in (1, 4):
            before, now = runs[(part, "before", times)][0], runs[(part, "polars", times)][0]
            same = {k: v for k, v in before.items() if k not in ("seconds", "mib")}
            if same != {k: now[k] for k in same}:
                sys.exit(f"{part} {times}x: the versions disagree: {same} against {now}")
            print(
                f"{part:>10} {times}x: before {best[(part, 'before', times)]:6.2f} s "
                f"{peak[(part, 'before', times)]:5.0f} MiB | polars "
                f"{best[(part, 'polars', times)]:6.2f} s {peak[(part, 'polars', times)]:5.0f} MiB"
                f" | time ratio polars/before "
                f"{best[(part, 'polars', times)] / best[(part, 'before', times)]:.2f}"
                + (f" | quarantined {now['reasons']}" if "reasons" in now else "")
            )
        for version in VERSIONS:
            ratio = peak[(part, version, 4)] / peak[(part, version, 1)]
            goal = "  (goal <= 1.15)" if version == "polars" else ""
            print(f"{part:>10} {version} RSS 4x/1x: {ratio:.2f}{goal}")


if __name__ == "__main__":
    main()
