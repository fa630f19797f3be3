"""A score run's drift metrics logged to MLflow by a process of their own.

Importing MLflow and opening its store takes about two seconds on a 2-core machine,
more than `doclstm score` needs to score 20 documents. So the command line hands the
logging of the drift report's metrics to a detached child process
(`log_in_background`) and returns: the child imports MLflow, logs the point on the
version's run (doclstm/scoring/drift.py), asks MLflow again which version the scored
reference names so the next lookup can use the kept answer
(doclstm/scoring/model_ref.py), and writes how it went to
`_drift/mlflow.json` (`{"logged": true}`, or the error), with its own output in
`_drift/mlflow.log`. Flows and the library log in the scoring process itself.

    python -m doclstm.scoring.drift_logger REPORT TRACKING NAME VERSION REFERENCE CACHE
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from doclstm.scoring.drift import log_drift_metrics
from doclstm.storage.atomic import write_json

OUTCOME = "mlflow.json"
LOG = "mlflow.log"


def log_in_background(
    report_file: Path, tracking: str, name: str, version: str, reference: str, cache_dir: Path
) -> subprocess.Popen[bytes]:
    """Start the child that logs `report_file`'s metrics; it outlives this process."""
    (report_file.parent / OUTCOME).unlink(missing_ok=True)
    with open(report_file.parent / LOG, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", __name__, str(report_file), tracking, name, version,
             reference, str(cache_dir)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the command does not reach it
        )  # fmt: skip


def wait_for_outcome(report_file: Path, timeout: float) -> dict[str, Any] | None:
    """What the child wrote to `_drift/mlflow.json`, once it has; None after `timeout` s."""
    deadline = time.monotonic() + timeout
    outcome = report_file.parent / OUTCOME
    while not outcome.is_file():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    found: dict[str, Any] = json.loads(outcome.read_text(encoding="utf-8"))
    return found


def main(argv: list[str]) -> int:
    report_file, tracking, name, version, reference, cache_dir = argv
    report = json.loads(Path(report_file).read_text(encoding="utf-8"))
    try:
        logged = log_drift_metrics(tracking, name, version, report)
        if reference.startswith("models:/"):
            from doclstm.scoring.model_ref import resolve_model

            resolve_model(reference, tracking, Path(cache_dir))  # keeps MLflow's answer
    except Exception as exc:  # recorded for `inspect`, never lost: the child has no terminal
        write_json(Path(report_file).parent / OUTCOME, {"logged": False, "error": repr(exc)})
        raise
    write_json(Path(report_file).parent / OUTCOME, {"logged": logged, "error": None})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
