"""dvc.yaml agrees with the code; `dvc repro` runs the same stages, rests, renders plots,
pushes and pulls through the default remote, and reruns only what a changed param or a
changed module touches."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from doclstm.config.params import Params, load_params
from doclstm.config.workspace import Workspace, encoder_folder, teacher_folder, workspace
from doclstm.storage.code_digest import relative_sources
from doclstm.tasks.table import STAGES, TRAINING_STAGES, stage_arguments
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# `doclstm tune`, on demand: a dvc.yaml of its own, which `dvc repro` does not run.
TUNE = yaml.safe_load((ROOT / "tuning/dvc.yaml").read_text())["stages"]


def _declared(stage: dict) -> set[str]:
    entries = [
        *stage.get("deps", []),
        *stage.get("outs", []),
        *stage.get("metrics", []),
        *stage.get("plots", []),
    ]
    return {next(iter(e)) if isinstance(e, dict) else e for e in entries}


def test_dvc_stages_are_the_cli_stages_with_real_param_groups() -> None:
    assert list(DVC) == [stage.name for stage in STAGES]
    for stage in TRAINING_STAGES:
        assert DVC[stage.name]["cmd"] == f"doclstm stage {stage.name}"
    groups = set(Params.model_fields) | {"validate", "register"}
    for stage in DVC.values():
        for group in stage["params"]:
            assert group.split(".")[0] in groups, group


def test_the_tune_stage_runs_on_demand_on_the_pipeline_s_outputs_and_its_code() -> None:
    assert list(TUNE) == ["tune"] and "tune" not in DVC
    tune = TUNE["tune"]
    assert (tune["cmd"], tune["wdir"]) == ("doclstm tune", "..")
    declared = [d for d in tune["deps"] if d.endswith(".py")]
    expected = relative_sources("doclstm.tuning.search")
    listing = "\n".join(f"      - {path}" for path in expected)
    assert declared == expected, f"tuning/dvc.yaml: its code deps are\n{listing}"
    # What train reads, as the pipeline's train stage declares it, and its params.
    assert [d for d in tune["deps"] if not d.endswith(".py")] == [
        d for d in DVC["train"]["deps"] if not d.endswith(".py")
    ]
    assert set(DVC["train"]["params"]) | {"tune"} == set(tune["params"])


def test_each_stage_depends_on_exactly_the_code_its_fingerprint_covers() -> None:
    for stage in STAGES:
        declared = [d for d in DVC[stage.name].get("deps", []) if d.endswith(".py")]
        expected = stage.code()
        listing = "\n".join(f"      - {path}" for path in expected)
        assert declared == expected, f"dvc.yaml {stage.name}: its code deps are\n{listing}"
    # The command line's help and the flows are no stage's code.
    for stage in STAGES:
        assert not [p for p in stage.code() if p.startswith(("doclstm/cli/", "doclstm/flows/"))]


def _covered(path: Path, declared: set[str]) -> bool:
    return any(
        str(path) == d or str(path).startswith(f"{d}/") or d.startswith(f"{path}/")
        for d in declared
    )


def _workspace_paths(params: Params) -> list[Path]:
    """Every path the Workspace names, the model folders of `train.run_name` included."""
    ws = workspace(params)
    named = [getattr(ws, name) for name, v in vars(Workspace).items() if isinstance(v, property)]
    return [
        ws.root,
        *named,
        ws.model_dir(params.train.run_name),
        encoder_folder(params),
        teacher_folder(params),
    ]


def test_every_workspace_path_is_in_dvc_yaml_unless_the_workspace_says_why_not() -> None:
    params = load_params(ROOT / "params.yaml", ["base.workspace=."])
    declared = set().union(*(_declared(stage) for stage in [*DVC.values(), *TUNE.values()]))
    untracked = workspace(params).untracked()
    for path in _workspace_paths(params):
        if path in untracked:
            assert not _covered(path, declared), f"{path} is untracked: {untracked[path]}"
        elif path not in (workspace(params).root, workspace(params).data, workspace(params).models):
            assert _covered(path, declared), f"{path} missing from dvc.yaml"


def test_every_path_a_stage_reads_or_writes_is_a_declared_workspace_path() -> None:
    params = load_params(ROOT / "params.yaml", ["base.workspace=."])
    known = _workspace_paths(params)
    untracked = workspace(params).untracked()
    for stage in TRAINING_STAGES:
        name = stage.name
        declared = _declared(DVC[name])
        written = _declared({k: v for k, v in DVC[name].items() if k != "deps"})
        arguments = stage_arguments(name, params)
        for path in arguments.outputs():
            if path not in untracked:
                assert _covered(path, written), f"{name}: writes {path}, not among its outs"
        for path in arguments.paths():
            assert path in known, f"{name}: {path} is not a path the Workspace names"
            if path not in untracked and path != workspace(params).root:
                assert _covered(path, declared), f"{name}: {path} missing from its dvc.yaml stage"


@pytest.mark.slow
def test_dvc_repro_rests_plots_round_trips_and_reruns_only_dependents(
    small_corpus: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore", "tuning/dvc.yaml"):
        (repo / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    # The stages' code deps, as a checkout has them (the commands run the installed doclstm).
    shutil.copytree(
        ROOT / "doclstm", repo / "doclstm", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    for item in [f"ingest.source={small_corpus}", f"score.input={small_corpus}", *TINY]:
        key, value = item.split("=", 1)
        _set_param(repo / "params.yaml", key, yaml.safe_load(value))
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
    for stage in STAGES:
        assert f"Running stage '{stage.name}'" in first.stdout
    assert "'tune'" not in first.stdout  # a search runs only when asked for:
    dry = subprocess.run(
        ["dvc", "repro", "--dry", "tuning/dvc.yaml"], cwd=repo, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    # ...on the pipeline's outputs, which DVC sees as the upstream of its deps.
    assert "Running stage 'tuning/dvc.yaml:tune':\n> doclstm tune" in dry.stdout, dry.stderr
    assert "Stage 'tokenize' didn't change, skipping" in dry.stdout
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

    # The pipeline's own stages: `dvc status` alone also lists the tune stage, never run.
    status = subprocess.run(
        ["dvc", "status", "dvc.yaml"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert "up to date" in status.stdout.lower()

    def dvc(*args: str, timeout: int = 300) -> str:
        done = subprocess.run(
            ["dvc", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout[-2000:]}{done.stderr}"
        return done.stdout

    # `dvc plots show` renders the evaluation plots into one HTML page.
    dvc("plots", "show", "-o", "plots_html")
    page = (repo / "plots_html/index.html").read_text()
    for plot in DVC["evaluate"]["plots"]:
        assert Path(next(iter(plot))).name in page

    # The default remote (a folder beside the repository) round-trips data and models.
    cached = _cached_outs(repo)
    before = _checksums(repo, cached)
    assert before and any(p.startswith("models/main/") for p in before)
    dvc("push")
    assert any((tmp_path / "doclstm-dvc-remote").rglob("*")), "nothing pushed"
    shutil.rmtree(repo / ".dvc/cache")
    for out in cached:
        target = repo / out
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    dvc("pull")
    assert _checksums(repo, cached) == before
    assert "up to date" in dvc("status", "dvc.yaml").lower()

    # A changed function body in a module train imports changes train's code deps (and
    # so, once train reruns, what follows it); ingest, validate and tokenize stay.
    bag_fit = repo / "doclstm/training/bag_fit.py"
    original = bag_fit.read_text()
    bag_fit.write_text(
        original.replace("\ndef ", "\ndef _unused() -> None:\n    pass\n\n\ndef ", 1)
    )
    changed = dvc("status", "dvc.yaml")
    stale = [s.name for s in STAGES if f"\n{s.name}:" in f"\n{changed}"]
    assert "train" in stale and not {"ingest", "validate", "tokenize"} & set(stale), changed
    assert "doclstm/training/bag_fit.py" in changed
    bag_fit.write_text(original)
    assert "up to date" in dvc("status", "dvc.yaml").lower()

    # A changed param reruns the stages that depend on it, and nothing upstream.
    _set_param(repo / "params.yaml", "gate.alpha", 0.01)
    rerun = dvc("repro", timeout=600)
    assert "Running stage 'gate'" in rerun
    assert [s.name for s in STAGES if f"Running stage '{s.name}'" in rerun] == ["gate"]


def _cached_outs(repo: Path) -> list[str]:
    """Every out of dvc.lock that DVC caches (so pushes): not the cache: false ones."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    uncached = {
        next(iter(entry))
        for stage in stages.values()
        for kind in ("outs", "metrics", "plots")
        for entry in stage.get(kind, [])
        if isinstance(entry, dict) and next(iter(entry.values())).get("cache") is False
    }
    return [
        o["path"] for s in lock.values() for o in s.get("outs", []) if o["path"] not in uncached
    ]


def _checksums(repo: Path, outs: list[str]) -> dict[str, str]:
    from doclstm.storage.fingerprint import sha256_file

    files = [f for out in outs for f in [repo / out, *(repo / out).rglob("*")] if f.is_file()]
    return {str(f.relative_to(repo)): sha256_file(f) for f in files}


def _set_param(params_file: Path, key: str, value: object) -> None:
    params = yaml.safe_load(params_file.read_text())
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[leaf] = value
    params_file.write_text(yaml.safe_dump(params))
