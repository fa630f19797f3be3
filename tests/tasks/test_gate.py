"""The champion/challenger gate, promote and rollback against a real `mlflow server`.

One registry story, in order: a weak first model misses the first-champion
thresholds, then passes looser ones; a well-trained model beats it and is
promoted; another weak model is rejected; people roll back and promote by
hand through the CLI; the champion then loads by alias in fresh processes.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from doclstm.registry.model_registry import CHAMPION, HISTORY_TAG
from doclstm.tasks.gate import GateResult
from doclstm.tasks.table import run_stage
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gate-test"
# A barely trained RNN alone (a fitted token bag is a strong model after one epoch).
WEAK = ["train.learning_rate=1e-5", "train.epochs=1", "train.model.bag_buckets=0"]
# Enough training on the small corpus to beat a barely trained model by a wide margin.
# The weak model names one class for every document, so its recall there is 1.0, which a
# model of 128-token snippets of 200 articles (0.79 to 0.85 on test) need not match: the
# recall guardrail is lifted here and tested on its own (test_gate_rules.py).
GOOD = [
    "train.epochs=20",
    "train.patience=20",
    "train.learning_rate=0.01",
    "train.model.pooling=mean",
    "gate.max_recall_drop=1.0",
]


@pytest.fixture(scope="module")
def story(
    built_workspace: Path,
    small_corpus: Path,
    mlflow_server_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, GateResult]:
    server = [f"register.tracking_uri={mlflow_server_uri}", f"register.model_name={MODEL}"]

    def train_and_gate(name: str, *extra: str) -> tuple[Path, GateResult]:
        workspace = tmp_path_factory.mktemp(name)
        shutil.copytree(built_workspace, workspace, dirs_exist_ok=True)
        params = tiny_params(workspace, small_corpus, *server, *extra)
        for stage in ("train", "evaluate", "register"):
            run_stage(stage, params)
        return workspace, run_stage("gate", params)

    strict = ["gate.min_accuracy=0.9", "gate.min_macro_f1=0.9"]
    first_ws, first_strict = train_and_gate("weak_first", *WEAK, *strict)
    first = run_stage("gate", tiny_params(first_ws, small_corpus, *server, *WEAK))
    _, better = train_and_gate("good", *GOOD)
    worse_ws, worse = train_and_gate("weak_again", *WEAK, "base.seed=7")
    worse_again = run_stage(
        "gate", tiny_params(worse_ws, small_corpus, *server, *WEAK, "base.seed=7")
    )
    return {
        "first_strict": first_strict,
        "first": first,
        "better": better,
        "worse": worse,
        "worse_again": worse_again,
    }


def _tags(uri: str, version: str) -> dict[str, str]:
    return dict(MlflowClient(uri).get_model_version(MODEL, version).tags)


def test_first_challenger_is_judged_by_the_absolute_thresholds(
    story: dict[str, GateResult],
) -> None:
    strict, first = story["first_strict"], story["first"]
    assert (strict.challenger, strict.decision, strict.champion) == ("1", "rejected", None)
    assert "no champion yet" in strict.reason and "gate.min_accuracy 0.9" in strict.reason
    # Looser thresholds are new gate settings: the same version is judged again.
    assert (first.challenger, first.decision, first.champion) == ("1", "promoted", "1")


def test_better_challenger_is_promoted_on_a_significant_paired_test(
    story: dict[str, GateResult], mlflow_server_uri: str
) -> None:
    better = story["better"]
    assert (better.challenger, better.decision, better.champion) == ("2", "promoted", "2")
    evidence = better.evidence
    assert evidence["champion_version"] == "1"
    assert evidence["challenger_accuracy"] > evidence["champion_accuracy"]
    assert evidence["p_value"] < 0.05
    assert evidence["challenger_only_correct"] > evidence["champion_only_correct"]
    tags = _tags(mlflow_server_uri, "2")
    assert tags["decision"] == "promoted" and tags["decided_by"] == "gate"
    assert tags["gate.champion_version"] == "1"
    assert float(tags["gate.p_value"]) == pytest.approx(evidence["p_value"], rel=1e-4)
    assert "challenger is better" in tags["reason"]


def test_worse_challenger_is_rejected_with_a_readable_reason(
    story: dict[str, GateResult], mlflow_server_uri: str
) -> None:
    worse = story["worse"]
    assert (worse.challenger, worse.decision, worse.champion) == ("3", "rejected", "2")
    assert worse.reason.startswith("challenger rejected: accuracy gain -")
    assert "McNemar p=" in worse.reason and "champion" in worse.reason
    tags = _tags(mlflow_server_uri, "3")
    assert (tags["decision"], tags["reason"]) == ("rejected", worse.reason)
    client = MlflowClient(mlflow_server_uri)
    assert client.get_model_version_by_alias(MODEL, CHAMPION).version == "2"
    assert client.get_model_version_by_alias(MODEL, "challenger").version == "3"
    # Nothing changed since: the recorded decision is reused, not taken again.
    again = story["worse_again"]
    assert again.cached and (again.decision, again.reason) == ("rejected", worse.reason)


def _cli(uri: str, prefect_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": "",
        "MLFLOW_TRACKING_URI": "",
    }
    overrides = ["--set", f"register.tracking_uri={uri}", "--set", f"register.model_name={MODEL}"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "doclstm.cli",
            *args,
            "--params",
            str(ROOT / "params.yaml"),
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def test_rollback_and_manual_promote_are_recorded_as_tags_and_prefect_artifacts(
    story: dict[str, GateResult], mlflow_server_uri: str, tmp_path: Path
) -> None:
    client = MlflowClient(mlflow_server_uri)
    assert json.loads(client.get_registered_model(MODEL).tags[HISTORY_TAG]) == ["1", "2"]

    rolled = _cli(mlflow_server_uri, tmp_path, "rollback", "--reason", "v2 misroutes sport")
    assert rolled.returncode == 0, rolled.stdout[-2000:] + rolled.stderr[-3000:]
    assert client.get_model_version_by_alias(MODEL, CHAMPION).version == "1"
    assert _tags(mlflow_server_uri, "2")["decision"] == "rolled_back"
    assert _tags(mlflow_server_uri, "2")["reason"] == "v2 misroutes sport"
    assert _tags(mlflow_server_uri, "1")["decision"] == "restored"

    promoted = _cli(mlflow_server_uri, tmp_path, "promote", "3", "--reason", "hand-checked")
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    assert client.get_model_version_by_alias(MODEL, CHAMPION).version == "3"
    tags = _tags(mlflow_server_uri, "3")
    assert (tags["decision"], tags["reason"]) == ("promoted", "hand-checked")
    assert tags["decided_by"].startswith("manual")
    assert json.loads(client.get_registered_model(MODEL).tags[HISTORY_TAG]) == ["1", "3"]

    with sqlite3.connect(tmp_path / "prefect.db") as db:
        artifacts = db.execute("SELECT key, type, data FROM artifact ORDER BY created").fetchall()
    assert [(key, kind) for key, kind, _ in artifacts] == [("registry-decision", "markdown")] * 2
    assert "version 2: rolled_back" in artifacts[0][2]
    assert "version 3: promoted" in artifacts[1][2] and "hand-checked" in artifacts[1][2]

    unknown = _cli(mlflow_server_uri, tmp_path, "promote", "99", "--reason", "typo")
    assert unknown.returncode == 2
    assert (
        "has no version 99" in unknown.stdout and "Traceback" not in unknown.stdout + unknown.stderr
    )

    listed = _cli(mlflow_server_uri, tmp_path, "models", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    shown = json.loads(listed.stdout)
    assert (shown["model"], shown["champion"], shown["history"]) == (MODEL, "3", ["1", "3"])
    versions = {v["version"]: v for v in shown["versions"]}
    assert list(versions) == ["3", "2", "1"]  # newest first
    assert versions["3"]["aliases"] == ["challenger", "champion"]
    assert versions["2"]["decision"]["decision"] == "rolled_back"
    assert versions["2"]["decision"]["reason"] == "v2 misroutes sport"
    assert versions["1"]["decision"]["decision"] == "restored"
    assert versions["3"]["test_accuracy"] == float(_tags(mlflow_server_uri, "3")["test_accuracy"])
    table = _cli(mlflow_server_uri, tmp_path, "models")
    assert "version 2: rolled_back by manual" in table.stdout
    assert "v2 misroutes sport" in table.stdout
    assert "champion: 3; champion history, oldest first: 1 -> 3" in table.stdout


def test_champion_loads_by_alias_in_fresh_processes(
    story: dict[str, GateResult], mlflow_server_uri: str, tmp_path: Path
) -> None:
    champion = MlflowClient(mlflow_server_uri).get_model_version_by_alias(MODEL, CHAMPION).version
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server_uri}

    def fresh_process(*command: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, *command],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    code = f"""
import json, mlflow, pandas as pd
texts = pd.DataFrame({{"text": ["The striker scored twice.", "Shares fell 5%."]}})
by_alias = mlflow.pyfunc.load_model("models:/{MODEL}@champion").predict(texts)
by_number = mlflow.pyfunc.load_model("models:/{MODEL}/{champion}").predict(texts)
print(json.dumps([by_alias.to_dict(orient="list"), by_number.to_dict(orient="list")]))
"""
    loaded = fresh_process("-c", code)
    by_alias, by_number = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert by_alias == by_number and len(by_alias["predicted"]) == 2

    # `doclstm predict` takes the champion by default, as the pyfunc by alias does.
    texts = ["The striker scored twice.", "Shares fell 5%."]
    predicted = _cli(mlflow_server_uri, tmp_path, "predict", *texts, "--json")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["predicted"] for r in rows] == by_alias["predicted"]
    assert [r["source"] for r in rows] == ["argument 1", "argument 2"]
    assert {r["model"] for r in rows} == {f"{MODEL} version {champion}"}

    (tmp_path / "input.csv").write_text('text\n"The striker scored twice."\n"Shares fell 5%."\n')
    fresh_process(
        *("-m", "mlflow", "models", "predict"),
        *("-m", f"models:/{MODEL}@champion", "-i", str(tmp_path / "input.csv")),
        *("-t", "csv", "--env-manager", "local", "-o", str(tmp_path / "out.json")),
    )
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert [row["predicted"] for row in predictions] == by_alias["predicted"]
