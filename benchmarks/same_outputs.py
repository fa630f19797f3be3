"""Whether two `make run` workspaces hold the same stage outputs: the check a refactor
that must not change what the pipeline computes is held to.

Every file under the stage output folders is compared by its bytes; a Parquet file
that differs is compared by its rows without `scored_at` (the time it was scored); a
JSON file that differs is compared without what names a run rather than a result
(fingerprints, which change with the code, the code digest a score marker records,
MLflow run ids and URIs, times); a markdown report without its timestamps; an HTML
report without the model's fingerprint; model weights tensor by tensor under the
names the current classifier gives them (a folder saved by the single-module
classifier named them otherwise: doclstm/models/model.legacy_state).
Prints each file that still differs and the counts; exits 1 when any does.

    .venv/bin/python -m benchmarks.same_outputs BEFORE_WORKSPACE AFTER_WORKSPACE
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

FOLDERS = (
    "data/ingested",
    "data/validated",
    "data/quarantine",
    "data/tokens",
    "data/token_vectors",
    "models/main",
    "models/main.encoder",
    "reports",
    "predictions",
)
# What names a run or a moment, not a result.
RUN_KEYS = {
    "fingerprint",
    "source_fingerprint",
    "tokens_fingerprint",
    "key",
    "sha256",
    "bytes",
    "seconds",
    "tokens_per_second",
    "mlflow_run_id",
    "mlflow_tracking_uri",
    "run_id",
    "tracking_uri",
    "code",  # the digest of the code that wrote a score marker
    "version",  # a marker's code version before the digest; a registry version number
}
# Great Expectations' data docs are pages named and stamped by the time of the run.
SKIPPED = ("reports/validation/data_docs/",)


def _without_run_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_run_keys(v) for k, v in data.items() if k not in RUN_KEYS}
    if isinstance(data, list):
        return [_without_run_keys(v) for v in data]
    return data


def same_file(a: Path, b: Path) -> bool:
    if a.read_bytes() == b.read_bytes():
        return True
    if a.suffix == ".safetensors":
        from safetensors.torch import load_file

        from doclstm.models.model import legacy_state

        wa, wb = (legacy_state(load_file(str(p))) for p in (a, b))
        return wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)
    if a.suffix == ".html":  # the title names the model by its fingerprint
        fingerprint = re.compile(r"\([0-9a-f]{6}\)")
        return bool(fingerprint.sub("", a.read_text()) == fingerprint.sub("", b.read_text()))
    if a.suffix == ".parquet":
        ta, tb = pq.read_table(a), pq.read_table(b)
        drop = [c for c in ("scored_at",) if c in ta.column_names]
        return bool(ta.drop(drop).equals(tb.drop(drop)))
    if a.suffix == ".md":  # reports say when they were decided
        stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ ]*")
        return bool(stamp.sub("", a.read_text()) == stamp.sub("", b.read_text()))
    if a.suffix == ".json":
        ja, jb = (json.loads(p.read_text(encoding="utf-8")) for p in (a, b))
        return bool(_without_run_keys(ja) == _without_run_keys(jb))
    return False


def compare(before: Path, after: Path) -> list[str]:
    """The files that differ, or are in one workspace only."""
    differ = []
    for folder in FOLDERS:
        names = {
            str(p.relative_to(root))
            for root in (before, after)
            for p in (root / folder).rglob("*")
            if p.is_file() and not p.name.endswith(".lock")
        }
        for name in sorted(names):
            if name.startswith(SKIPPED):
                continue
            a, b = before / name, after / name
            if not (a.is_file() and b.is_file()) or not same_file(a, b):
                differ.append(name)
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    differ = compare(args.before, args.after)
    for name in differ:
        print(f"differs: {name}")
    checked = sum(
        1
        for folder in FOLDERS
        for p in (args.before / folder).rglob("*")
        if p.is_file() and not str(p.relative_to(args.before)).startswith(SKIPPED)
    )
    print(f"{checked - len(differ)} of {checked} files the same; {len(differ)} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
