"""What the drift report costs a score run, and what it says of in-domain and shifted input.

Scores `--input` (default: the built-in BBC News corpus) with a model folder twice per
round, `score.drift.enabled` true and false in turns, each into a fresh output folder,
`--repeat` rounds; prints the best wall time of each, documents/s and the ratio on/off
(the goal: at most 1.05). The shard markers carry the drift counts either way (a few
numbers a shard); what the switch removes is the report: merging them, the PSIs, the
plot and the MLflow metrics. Then it prints the report's verdict and measures.

`--shifted SRC` also scores a second source (the IMDB test reviews, say) and prints the
two reports side by side: the shifted one should be flagged and the in-domain one not.

    .venv/bin/python -m benchmarks.drift_cost --model models/main \\
        [--input builtin:bbcnews] [--shifted aclImdb_v1.tar.gz:aclImdb/test]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from doclstm.config.params import DriftParams, ScoreParams, SourceParams
from doclstm.scoring.drift import MEASURES
from doclstm.scoring.shards import ScoreResult
from doclstm.tasks.score import score_documents


def _source(spec: str) -> SourceParams:
    """`PATH` or `ARCHIVE:ROOT` (a folder inside an archive, read as files)."""
    path, _, root = spec.partition(":") if ".tar" in spec or ".zip" in spec else (spec, "", "")
    if not path.startswith("builtin:"):
        path = str(Path(path).resolve())  # the scorer resolves relative paths in its workspace
    if root:
        return SourceParams(path=path, root=root)  # layout auto: label folders, or files
    return SourceParams(path=path)


def score_once(
    source: SourceParams, model: Path, out: Path, drift: bool, batch_tokens: int
) -> tuple[ScoreResult, float]:
    params = ScoreParams(
        input=source,
        output=out,
        model=str(model.resolve()),
        docs_per_shard=1_000,
        batch_tokens=batch_tokens,
        drift=DriftParams(enabled=drift),
    )
    started = time.perf_counter()
    result = score_documents(params, "", out, out / "model_cache")
    return result, time.perf_counter() - started


def report_of(result: ScoreResult) -> dict[str, Any]:
    assert result.drift_report is not None
    report: dict[str, Any] = json.loads(result.drift_report.read_text(encoding="utf-8"))
    return report


def _row(report: dict[str, Any]) -> str:
    scored = report["scored"] or {}
    measures = "  ".join(f"{m} {scored.get(m, float('nan')):.3f}" for m in MEASURES)
    verdict = "DRIFTED" if report["drifted"] else "no drift"
    return f"{verdict:8}  documents {scored.get('documents', 0)}  {measures}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/main"))
    parser.add_argument("--input", default="builtin:bbcnews")
    parser.add_argument("--shifted", help="a second source, ARCHIVE:ROOT or a path")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=65_536)
    args = parser.parse_args()
    source = _source(args.input)
    best = {True: float("inf"), False: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        last: dict[bool, ScoreResult] = {}
        for round_ in range(args.repeat):
            for drift in (True, False) if round_ % 2 == 0 else (False, True):
                out = Path(tmp) / f"{round_}-{drift}"
                last[drift], seconds = score_once(source, args.model, out, drift, args.batch_tokens)
                best[drift] = min(best[drift], seconds)
        documents = last[True].documents
        for drift in (False, True):
            print(
                f"drift {'on ' if drift else 'off'}: {best[drift]:.2f} s, "
                f"{documents / best[drift]:.0f} documents/s (best of {args.repeat})"
            )
        print(f"ratio on/off: {best[True] / best[False]:.3f} (goal <= 1.05)")
        print(f"{args.input}: {_row(report_of(last[True]))}")
        if args.shifted:
            shifted, _ = score_once(
                _source(args.shifted), args.model, Path(tmp) / "shifted", True, args.batch_tokens
            )
            report = report_of(shifted)
            print(f"{args.shifted}: {_row(report)}")
            for alert in report["alerts"]:
                print(f"  alert: {alert}")


if __name__ == "__main__":
    main()
