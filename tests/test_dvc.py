"""dvc.yaml agrees with the code, and `dvc repro` runs the same stages and then rests."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from doclstm.params import Params, load_params
from doclstm.stages import STAGES, stage_arguments
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _declared(stage: dict) -> set[str]:
    entries = [
        *stage.get("deps", []),
        *stage.get("outs", []),
        *stage.get("metrics", []),
        *stage.get("plots", []),
    ]
    return {next(iter(e)) if isinstance(e, dict) else e for e in entries}


def test_dvc_stages_are_the_cli_stages_with_real_param_groups() -> None:
    assert list(DVC) == [*STAGES, "score"]
    for name in STAGES:
        assert DVC[name]["cmd"] == f"doclstm stage {name}"
    groups = set(Params.model_fields) | {"validate", "register"}
    for stage in DVC.values():
        for group in stage["params"]:
            assert group.split(".")[0] in groups, group


def test_every_path_a_stage_reads_or_writes_is_declared() -> None:
    params = load_params(ROOT / "params.yaml", ["base.workspace=."])
    for name in STAGES:
        declared = _declared(DVC[name])
        for arg in stage_arguments(name, params):
            if isinstance(arg, Path) and str(arg) not in (
                ".",
                "data/quarantine",
                "data/mlflow",
                "data/model_cache",
            ):
                covered = any(
                    str(arg) == d or str(arg).startswith(f"{d}/") or d.startswith(f"{arg}/")
                    for d in declared
                )
                assert covered, f"{name}: {arg} missing from dvc.yaml"


@pytest.mark.slow
def test_dvc_repro_builds_then_does_nothing(small_corpus: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for item in [f"ingest.source={small_corpus}", f"score.input={small_corpus}", *TINY]:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)

    first = subprocess.run(
        ["dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in [*STAGES, "score"]:
        assert f"Running stage '{stage}'" in first.stdout
    assert (repo / "reports/metrics.json").is_file() and (repo / "dvc.lock").is_file()
    # Under dvc repro, the MLflow run records the data hashes DVC locked for it.
    from mlflow import MlflowClient

    registration = json.loads((repo / "reports/registration.json").read_text())
    run = MlflowClient(registration["tracking_uri"]).get_run(registration["run_id"])
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert run.data.tags["data.dvc"] == "dvc repro"
    tokens_md5 = next(o["md5"] for o in lock["tokenize"]["outs"] if o["path"] == "data/tokens")
    assert run.data.tags["dvc.tokenize.data/tokens.md5"] == tokens_md5
    assert json.loads((repo / "reports/gate.json").read_text())["result"]["decision"] == "promoted"

    second = subprocess.run(
        ["dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Running stage" not in second.stdout
    assert "Data and pipelines are up to date." in second.stdout

    status = subprocess.run(["dvc", "status"], cwd=repo, env=env, capture_output=True, text=True)
    assert "up to date" in status.stdout.lower()
