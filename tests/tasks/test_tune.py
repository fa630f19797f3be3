"""`doclstm tune` end to end on the small corpus: trials nested in MLflow under the
study's run, never reading test, a failed trial recorded while the search goes on, the
Prefect flow, and a SIGKILLed search that resumes without rerunning a finished trial."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
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
            assert (
                run.info.status == "FAILED" and trial.reason in run.data.tags["doclstm.tune_reason"]
            )
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


def _tune_process(root: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "doclstm.cli", "tune", "-p", "params.yaml"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, cwd=root, env=env, stderr=subprocess.PIPE, start_new_session=True
    )


def test_a_killed_search_resumes_without_rerunning_a_finished_trial(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    root = _copy(built_workspace, tmp_path / "killed")
    space = {"train.learning_rate": SPACE["train.learning_rate"]}
    params = _params(
        root, small_corpus, "tune.trials=3", f"tune.space={json.dumps(space)}",
        "tune.pruner=none", "train.epochs=3", "train.checkpoint_steps=2",
    )  # fmt: skip
    (root / "params.yaml").write_text(
        yaml.safe_dump(params.model_dump(mode="json", by_alias=True)), encoding="utf-8"
    )
    process = _tune_process(root)
    deadline = time.monotonic() + 300
    # Killed once trial 0 is finished and trial 1 has a resume checkpoint.
    while not (list(root.glob("studies/*/trials/*.resume/*")) and _complete(root)):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = _complete(root)
    assert len(before) == 1

    again = _tune_process(root)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()[-3000:]
    study = _study(root)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 3
    # Trial 0 was not trained again: the same record, started before the kill.
    assert (complete[0].number, complete[0].datetime_start, complete[0].value) == before[0]
    (cut,) = study.get_trials(states=(TrialState.FAIL,))
    assert "interrupted" in cut.user_attrs["fail_reason"]
    (retry,) = [t for t in complete if t.user_attrs.get("retry_of") == cut.number]
    assert retry.params == cut.params  # the cut trial's settings ran again, to the end
    assert not list(root.glob("studies/*/trials/*"))  # no trial folder left behind


def _study(root: Path) -> optuna.Study:
    (db,) = root.glob(f"studies/*/{STUDY_FILE}")
    return optuna.load_study(study_name=db.parent.name, storage=f"sqlite:///{db}")


def _complete(root: Path) -> list[tuple]:
    if not list(root.glob(f"studies/*/{STUDY_FILE}")):
        return []
    try:
        trials = _study(root).get_trials(states=(TrialState.COMPLETE,))
    except Exception:  # created, its tables not yet written
        return []
    return [(t.number, t.datetime_start, t.value) for t in trials]
