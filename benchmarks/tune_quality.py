"""`doclstm tune` on a corpus: the tuned settings' val and test against the defaults'.

In one workspace a corpus (benchmarks.quality's, by name) runs through the pipeline's
stages with the shipped params.yaml; `tune_settings` (what `doclstm tune` runs) then
searches `tune.space` for `--trials` trials on val; the params.tuned.yaml it writes is
trained and evaluated like the defaults. The search sees val only; test is read once
for each model, after the search, by the evaluate stage. Printed: the defaults' and the
tuned model's val macro-F1 (train.monitor, the search's score), test accuracy and test
macro-F1, the gains, and the search's minutes.

    .venv/bin/python -m benchmarks.tune_quality --corpus bbcnews --trials 8
    .venv/bin/python -m benchmarks.tune_quality --corpus sentences --packages ~/corpora \
        --trials 12
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.quality import CORPORA, REPO, Inputs
from doclstm.config.params import Params, load_params
from doclstm.config.workspace import workspace
from doclstm.storage.manifest import StageManifest
from doclstm.tasks.table import run_stage
from doclstm.tuning.search import tune_settings
from doclstm.tuning.trial import shipped_value

STAGES = ("ingest", "validate", "tokenize", "pretrain", "teacher", "train", "evaluate")


def _trained(params: Params, stages: tuple[str, ...]) -> dict[str, Any]:
    """Run `stages`; the model's best val figures and evaluate's test figures."""
    for stage in stages:
        run_stage(stage, params)
    ws = workspace(params)
    model_dir = ws.model_dir(params.train.run_name)
    summary = StageManifest.load(model_dir).summary
    history = json.loads((model_dir / "history.json").read_text())
    metrics = json.loads((ws.reports / "metrics.json").read_text())
    return {
        # what a trial is judged by: the trained model's val figure (the blend with the bag)
        "val_monitor": shipped_value(summary, history, params.train.monitor),
        "val_accuracy": shipped_value(summary, history, "val_accuracy"),
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "train_seconds": summary["seconds"],
    }


def run(name: str, trials: int, overrides: list[str], inputs: Inputs, work: Path) -> dict:
    root = work / name
    root.mkdir(parents=True, exist_ok=True)
    source = CORPORA[name][1](inputs, root)
    if isinstance(source, str):
        raise SystemExit(f"{name}: {source}")
    base_file = REPO / "params.yaml"
    where = [f"base.workspace={root}", f"ingest.source={json.dumps(source)}"]
    search = [f"tune.trials={trials}", f"tune.output={root / 'params.tuned.yaml'}"]
    params = load_params(base_file, [*overrides, *where, *search])
    defaults = _trained(params, STAGES)
    started = time.perf_counter()
    result = tune_settings(params, base_file)
    minutes = (time.perf_counter() - started) / 60
    assert result.output is not None and result.best is not None
    if result.changed:
        tuned_params = load_params(result.output, [*overrides, *where, "train.run_name=tuned"])
        tuned = _trained(tuned_params, ("train", "evaluate"))
    else:  # the defaults were the best trial: the same training, the same figures
        tuned = defaults
    states = [t.state for t in result.trials]
    return {
        "corpus": name,
        "study": result.study,
        "trials": {s: states.count(s) for s in dict.fromkeys(states)},
        "search_minutes": minutes,
        "changed": result.changed,
        "best_trial": result.best.number,
        "base_trial_value": result.best.base_value,  # the defaults' val, inside the study
        "defaults": defaults,
        "tuned": tuned,
    }


def report(row: dict) -> str:
    d, t = row["defaults"], row["tuned"]
    gain = {k: 100 * (t[k] - d[k]) for k in ("val_monitor", "test_accuracy", "test_macro_f1")}
    held = gain["test_macro_f1"] / gain["val_monitor"] if gain["val_monitor"] else float("nan")
    return "\n".join(
        [
            f"{row['corpus']}: study {row['study']}, trials {row['trials']}, "
            f"{row['search_minutes']:.1f} min; best trial {row['best_trial']}: {row['changed']}; "
            f"the defaults' trial in the study: {row['base_trial_value']}",
            "| | val macro-F1 (searched) | test accuracy | test macro-F1 |",
            "|---|---|---|---|",
            f"| defaults | {d['val_monitor']:.4f} | {d['test_accuracy']:.4f} "
            f"| {d['test_macro_f1']:.4f} |",
            f"| tuned | {t['val_monitor']:.4f} | {t['test_accuracy']:.4f} "
            f"| {t['test_macro_f1']:.4f} |",
            f"| gain (points) | {gain['val_monitor']:+.2f} | {gain['test_accuracy']:+.2f} "
            f"| {gain['test_macro_f1']:+.2f} |",
            f"test macro-F1 gain / val gain: {held:.2f} (the share of the val gain that held "
            f"on test); tuned / defaults test accuracy: "
            f"{t['test_accuracy'] / d['test_accuracy']:.4f}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="bbcnews", choices=sorted(CORPORA))
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    parser.add_argument("--packages", type=Path, help="folder of the downloaded wheels/sdists")
    parser.add_argument("--work", type=Path, help="the workspace's parent (default: temporary)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    inputs = Inputs(args.packages, None, 0)
    with tempfile.TemporaryDirectory(prefix="doclstm-tune-") as scratch:
        row = run(args.corpus, args.trials, args.set, inputs, args.work or Path(scratch))
    print(report(row))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
