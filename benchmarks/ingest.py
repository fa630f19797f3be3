"""Ingest throughput against a bare read of the same archive, and memory at 1x and 4x.

Baseline: `tarfile` in stream mode reading every member's bytes, no parsing,
the least any reader of the archive must do. Then the ingest stage on the
same archive (safety checks, layout, decoding, hashing, splits, Parquet
writes, manifest). Both print documents/s and MB/s (uncompressed member
bytes), best of `--repeat` runs each, taken in turns so that machine noise
hits both alike; the ratio is stage / bare. The goal is >= 0.7.

`--rss` also writes the archive's members once (gzip) and four times
(renamed copies, gzip) to a temp folder, ingests each in a fresh process
and prints the peak RSS of the stage and of its reader process: memory must
not grow with the archive.

    .venv/bin/python -m benchmarks.ingest [--archive aclImdb_v1.tar.gz] [--rss]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from benchmarks.arguments import IMDB_ARCHIVE
from doclstm.config.params import load_params
from doclstm.tasks.ingest import ingest_documents


def bare_read(archive: Path) -> tuple[int, int, float]:
    """Documents, bytes and seconds for reading every member, nothing else."""
    started = time.perf_counter()
    docs = size = 0
    with tarfile.open(archive, mode="r|*") as stream:
        for info in stream:
            handle = stream.extractfile(info) if info.isreg() else None
            if handle is not None:
                size += len(handle.read())
                docs += 1
    return docs, size, time.perf_counter() - started


def stage(archive: Path, workspace: Path) -> tuple[int, float]:
    """Documents seen and seconds for the ingest stage, cold (no cached output)."""
    params = load_params(None, [f"ingest.source={archive}"])
    started = time.perf_counter()
    result = ingest_documents(
        params.ingest, workspace, workspace / "data/ingested", workspace / "data/quarantine"
    )
    assert result.seen == result.ingested + result.quarantined
    return result.seen, time.perf_counter() - started


def copies(archive: Path, dest: Path, times: int, under: str = "") -> Path:
    """The archive's members `times` over (copy k renamed k-<name>), as a fast .tar.gz;
    with `under`, only the members below that folder."""
    with (
        tarfile.open(archive, mode="r|*") as source,
        tarfile.open(dest, mode="w:gz", compresslevel=1) as out,
    ):
        for info in source:
            if under and not info.name.startswith(f"{under.rstrip('/')}/"):
                continue
            handle = source.extractfile(info) if info.isreg() else None
            data = handle.read() if handle is not None else None
            for k in range(times):
                copy = tarfile.TarInfo(info.name)
                copy.type, copy.size, copy.mode = info.type, info.size, info.mode
                if data is not None:
                    folder, _, name = info.name.rpartition("/")
                    copy.name = f"{folder}/{k}-{name}"
                    out.addfile(copy, io.BytesIO(data))
                elif k == 0:
                    out.addfile(copy)
    return dest


def peak_rss(archive: Path, workspace: Path) -> dict[str, float]:
    """Run the stage in a fresh process; its peak RSS and its reader's, in MiB."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest", "--measure", str(archive), str(workspace)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _measure(archive: Path, workspace: Path) -> None:
    seen, seconds = stage(archive, workspace)
    mib = 1024  # ru_maxrss is in KiB on Linux
    print(
        json.dumps(
            {
                "documents": seen,
                "seconds": round(seconds, 2),
                "stage_mib": _own_peak_kib() / mib,
                "reader_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mib,
            }
        )
    )


def _own_peak_kib() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries a parent's peak across
    fork+exec into it, so a child of a big benchmark process would report the parent's."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=IMDB_ARCHIVE)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs of each")
    parser.add_argument("--rss", action="store_true", help="also compare peak memory, 1x vs 4x")
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure(*args.measure)
        return
    archive = args.archive.resolve()
    if not archive.is_file():
        sys.exit(f"{archive}: not found; pass --archive PATH")
    with tempfile.TemporaryDirectory(prefix="doclstm-bench-") as tmp:
        bare_runs, stage_runs = [], []
        for i in range(args.repeat):
            bare_runs.append(bare_read(archive))
            stage_runs.append(stage(archive, Path(tmp) / f"ws{i}"))
        docs, size, bare_s = min(bare_runs, key=lambda run: run[-1])
        seen, stage_s = min(stage_runs, key=lambda run: run[-1])
        mb = size / 1e6
        print(f"archive {archive.name}: {docs:,} documents, {mb:,.1f} MB uncompressed")
        print(f"bare tarfile read: {docs / bare_s:10,.0f} docs/s {mb / bare_s:7.1f} MB/s")
        print(f"ingest stage:      {seen / stage_s:10,.0f} docs/s {mb / stage_s:7.1f} MB/s")
        print(f"ratio stage/bare:  {bare_s / stage_s:.2f}  (goal >= 0.70)")
        if args.rss:
            one = peak_rss(copies(archive, Path(tmp) / "1x.tar.gz", 1), Path(tmp) / "ws1")
            four = peak_rss(copies(archive, Path(tmp) / "4x.tar.gz", 4), Path(tmp) / "ws4")
            for name, run in (("1x", one), ("4x", four)):
                print(
                    f"peak RSS {name}: {run['documents']:,} documents in {run['seconds']} s, "
                    f"stage {run['stage_mib']:.0f} MiB, reader {run['reader_mib']:.0f} MiB"
                )
            print(
                f"RSS ratio 4x/1x:   stage {four['stage_mib'] / one['stage_mib']:.2f}, "
                f"reader {four['reader_mib'] / one['reader_mib']:.2f}  (goal <= 1.15)"
            )


if __name__ == "__main__":
    main()
