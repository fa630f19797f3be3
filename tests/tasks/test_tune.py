"""`doclstm tune` end to end on the small corpus: trials nested in MLflow under the
study's run, never reading test, a failed trial recorded while the search goes on, the
Prefect flow, and a SIGKILLed search that resumes without rerunning a finished trial."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from doclstm.config.params import Params, load_params
from doclstm.config.tracking import tracking_uri
from doclstm.config.workspace import workspace
from doclstm.tuning.search import TuneResult, tune_settings
from doclstm.tuning.study import STUDY_FILE
from doclstm.tuning.study_run import PARENT_TAG, STUDY_TAG
from tests.conftest import permute_test_labels, tiny_params

ROOT = Path(__file__).resolve().parents[2]
SPACE = {
    # 100 breaks chunk_stride 150 <= chunk_tokens: the trials that draw it fail
    "train.model.chunk_tokens": {"choices": [100, 200]},
    "train.learning_rate": {"low": 0.002, "high": 0.02, "log": True},
}
TUNE = (
    "tune.trials=5",
    f"tune.space={json.dumps(SPACE)}",
    "train.model.bag_buckets=0",  # the RNN alone: its settings are what trials change
    "train.model.hidden_size=16",
)


def _copy(built: Path, to: Path) -> Path:
    """A workspace with `built`'s data, without its MLflow store (trials log to a new one)."""
    shutil.copytree(built, to, ignore=shutil.ignore_patterns("mlflow", "models"))
    return to


def _params(root: Path, corpus: Path, *extra: str) -> Params:
    return tiny_params(root, corpus, *TUNE, f"tune.output={root / 'params.tuned.yaml'}", *extra)


def _trials(result: TuneResult) -> list[tuple]:
    return [(t.number, t.state, t.value, t.settings, t.reason) for t in result.trials]


@pytest.fixture(scope="module")
def tuned(
    built_workspace: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Params, TuneResult]:
    params = _params(_copy(built_workspace, tmp_path_factory.mktemp("tuned") / "ws"), small_corpus)
    return params, tune_settings(params)


def test_each_trial_is_a_nested_run_of_the_study_s_run(tuned: tuple[Params, TuneResult]) -> None:
    params, result = tuned
    states = [t.state for t in result.trials]
    assert len(states) == 5 and "complete" in states and "fail" in states, states
    # The base settings are the first trial; a failed one is recorded with why, and the
    # search went on past it.
    assert result.trials[0].settings == {"train.model.chunk_tokens": 200,
                                         "train.learning_rate": 0.003}  # fmt: skip
    failed = [t for t in result.trials if t.state == "fail"]
    assert all(t.settings["train.model.chunk_tokens"] == 100 for t in failed)
    assert all("chunk_stride 150 is over chunk_tokens 100" in t.reason for t in failed)
    assert max(t.number for t in result.trials if t.state == "complete") > failed[0].number

    client = MlflowClient(tracking_uri("", workspace(params).mlflow))
    experiment = client.get_experiment_by_name(params.register_.experiment)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    (study,) = [r for r in runs if r.data.tags.get(STUDY_TAG) == result.study]
    assert study.info.run_id == result.mlflow_run_id and study.info.status == "FINISHED"
    children = {
        r.data.tags["doclstm.tune_trial_number"]: r
        for r in runs
        if r.data.tags.get(PARENT_TAG) == study.info.run_id
    }
    assert sorted(children, key=int) == [str(t.number) for t in result.trials]
    for trial in result.trials:
        run = children[str(trial.number)]
        assert run.info.run_name == f"trial-{trial.number}"
        assert run.data.tags["doclstm.tune_state"] == {"fail": "failed"}.get(
            trial.state, trial.state
        )
        learning_rate = float(run.data.params["train.learning_rate"])
        assert learning_rate == pytest.approx(trial.settings["train.learning_rate"])
        if trial.state == "complete":
            assert run.info.status == "FINISHED"
            assert run.data.metrics["tune/value"] == pytest.approx(trial.value)
            curve = client.get_metric_history(run.info.run_id, "val/macro_f1")
            assert [m.step for m in curve] == list(range(1, params.train.epochs + 1))
            assert trial.value == pytest.approx(max(m.value for m in curve))
        else:
            assert run.info.status == {"fail": "FAILED", "pruned": "KILLED"}[trial.state]
            assert trial.reason in run.data.tags["doclstm.tune_reason"]
    best = client.get_metric_history(study.info.run_id, "tune/best_value")
    assert best[-1].value == pytest.approx(result.best.value if result.best else None)
    artifacts = {a.path for a in client.list_artifacts(study.info.run_id)}
    assert {"optimization_history.png", "intermediate_values.png", "trials.json"} <= artifacts
    assert "param_importances.png" in artifacts  # two complete trials that differ

    # The tuned file: the best trial's changes over the settings the search started from.
    assert result.best is not None and result.output is not None
    tuned_file = yaml.safe_load(result.output.read_text())
    assert "extends" not in tuned_file  # started from the shipped defaults, not a file
    best = result.best.settings
    assert load_params(result.output).train.learning_rate == best["train.learning_rate"]


def test_trials_never_read_the_test_split_and_run_as_a_prefect_flow(
    tuned: tuple[Params, TuneResult], built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """On tokens whose test labels are permuted, the flow's study is the same, trial by
    trial: settings, states, val scores, failures."""
    from doclstm.flows.tune import tune

    root = _copy(built_workspace, tmp_path / "permuted")
    permute_test_labels(root / "data/tokens")
    result = tune(_params(root, small_corpus))
    assert _trials(result) == _trials(tuned[1])
    assert result.study == tuned[1].study  # the same data by its fingerprint: one basis


def test_parallel_trials_run_in_worker_processes_of_their_own(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    root = _copy(built_workspace, tmp_path / "parallel")
    space = {"train.learning_rate": {"choices": [0.003, 0.006]}}  # the same ones at once
    params = _params(
        root, small_corpus, "tune.trials=3", "tune.workers=2", f"tune.space={json.dumps(space)}"
    )
    result = tune_settings(params)
    assert [t.state for t in result.trials] == ["complete"] * 3
    assert result.trials[0].settings == {"train.learning_rate": 0.003}  # the base settings
    client = MlflowClient(tracking_uri("", workspace(params).mlflow))
    children = client.search_runs(
        [client.get_experiment_by_name(params.register_.experiment).experiment_id],  # type: ignore[union-attr]
        filter_string=f"tags.`{PARENT_TAG}` = '{result.mlflow_run_id}'",
    )
    assert sorted(r.info.run_name for r in children) == ["trial-0", "trial-1", "trial-2"]
    assert all(r.info.status == "FINISHED" for r in children)


def _tune_process(root: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "doclstm.cli", "tune", "-p", "params.yaml"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


def _stopped(root: Path, complete: int, signal_number: int) -> tuple[int, str]:
    """Run the search; once `complete` trials are and the next one has a resume
    checkpoint, send `signal_number` to it all; its exit code and output."""
    process = _tune_process(root)
    deadline = time.monotonic() + 300
    while not (len(_complete(root)) >= complete and _checkpoints(root)):
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"ended before the signal: {out.decode()} {err.decode()[-3000:]}")
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(process.pid, signal_number)
    out, _ = process.communicate(timeout=120)
    return process.returncode, out.decode()


def test_ctrl_c_then_a_kill_and_the_search_resumes_without_rerunning_a_finished_trial(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    root = _copy(built_workspace, tmp_path / "stopped")
    space = {"train.learning_rate": SPACE["train.learning_rate"]}
    params = _params(
        root, small_corpus, "tune.trials=3", f"tune.space={json.dumps(space)}",
        "tune.pruner=none", "train.epochs=3", "train.checkpoint_steps=2",
    )  # fmt: skip
    (root / "params.yaml").write_text(
        yaml.safe_dump(params.model_dump(mode="json", by_alias=True)), encoding="utf-8"
    )
    # Ctrl-C during the second trial: the first is kept, and written as the best so far.
    code, out = _stopped(root, 1, signal.SIGINT)
    assert code == 130 and "Interrupted: the finished trials are kept" in out, out
    assert "best of 1 trials: trial 0" in (root / "params.tuned.yaml").read_text()
    first = _complete(root)
    # A SIGKILL during the fourth (the second's settings ran again, to the end, first).
    code, _ = _stopped(root, 2, signal.SIGKILL)
    assert code == -signal.SIGKILL
    before = _complete(root)
    assert before[:1] == first and len(before) == 2

    again = _tune_process(root)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()[-3000:]
    study = _study(root)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 3  # tune.trials: the cut ones do not count
    # The trials finished before each stop were not trained again: the same records.
    assert [(t.number, t.datetime_start, t.value) for t in complete[:2]] == before
    cut = study.get_trials(states=(TrialState.FAIL,))
    assert [t.number for t in cut] == [1, 3]
    assert all("interrupted" in t.user_attrs["fail_reason"] for t in cut)
    for trial in cut:  # each cut trial's settings ran again, to the end
        (retry,) = [t for t in complete if t.user_attrs.get("retry_of") == trial.number]
        assert retry.params == trial.params
    assert not list(root.glob("studies/*/trials/*"))  # no trial folder left behind

    # A larger budget goes on from the study as it is; past tune.timeout no trial starts.
    more = load_params(root / "params.yaml", ["tune.trials=10", "tune.timeout=0.001"])
    result = tune_settings(more)
    assert [t.number for t in result.trials] == [t.number for t in study.trials]
    assert result.best is not None and result.best.trials == 3


def _checkpoints(root: Path) -> list[Path]:
    return list(root.glob("studies/*/trials/*.resume/*"))


def _study(root: Path) -> optuna.Study:
    (db,) = root.glob(f"studies/*/{STUDY_FILE}")
    return optuna.load_study(study_name=db.parent.name, storage=f"sqlite:///{db}")


def _complete(root: Path) -> list[tuple]:
    """The complete trials as the study file holds them, read with sqlite3 (loading the
    study through Optuna at every poll would slow the search it watches)."""
    found = list(root.glob(f"studies/*/{STUDY_FILE}"))
    if not found:
        return []
    query = (
        "SELECT t.number, t.datetime_start, v.value FROM trials t JOIN trial_values v "
        "ON v.trial_id = t.trial_id WHERE t.state = 'COMPLETE' ORDER BY t.number"
    )
    try:
        with contextlib.closing(sqlite3.connect(f"file:{found[0]}?mode=ro", uri=True)) as db:
            rows = db.execute(query).fetchall()
    except sqlite3.OperationalError:  # created, its tables not yet written
        return []
    return [(n, datetime.fromisoformat(start), value) for n, start, value in rows]
