"""ingest and tokenize SIGKILLed at renames and shard writes chosen by a seed: each rerun
ends with outputs byte-identical to an uninterrupted run, and no temporary file left."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_params
from tests.crash_points import calls_in_a_whole_run, kill_points, run_killed_at

# Every file a stage makes appears by a rename; shards are written row group by row group.
CRASH_POINTS = "os:replace,pyarrow.parquet:ParquetWriter.write_table"
SMALL_ROW_GROUPS = ["ingest.row_group_rows=64", "tokenize.row_group_rows=64"]
OUTPUTS = {"ingest": ("data/ingested", "data/quarantine"), "tokenize": ("data/tokens",)}


def _params_file(workspace: Path, corpus: Path) -> Path:
    params = tiny_params(workspace, corpus, *SMALL_ROW_GROUPS).model_dump(
        mode="json", by_alias=True
    )
    path = workspace / "params.yaml"
    workspace.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def _stage(name: str, workspace: Path) -> list[str]:
    return ["stage", name, "--params", str(workspace / "params.yaml")]


def _tree(workspace: Path, stage: str) -> dict[str, bytes]:
    """Every file the stage wrote, by path, with its bytes (temporary files included)."""
    files = {}
    for folder in OUTPUTS[stage]:
        for path in sorted((workspace / folder).rglob("*")):
            if path.is_file():
                files[path.relative_to(workspace).as_posix()] = path.read_bytes()
    leftovers = [p.name for p in (workspace / "data").rglob(".*") if ".tmp" in p.name]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return files


def _tokens(folder: str, names: list[str]) -> list[str]:
    return ["tokens", "mlflow"] if Path(folder).name == "data" else []


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["ingest", "tokenize"])
def test_a_data_stage_killed_anywhere_reruns_to_the_same_bytes(
    small_corpus: Path, tmp_path: Path, stage: str
) -> None:
    target = CRASH_POINTS
    before = {"ingest": [], "tokenize": ["ingest", "validate"]}[stage]
    clean = tmp_path / "clean"
    _params_file(clean, small_corpus)
    for name in before:
        assert run_killed_at(target, -1, _stage(name, clean), clean).returncode == 0
    calls = calls_in_a_whole_run(target, _stage(stage, clean), clean, tmp_path / "calls")
    assert calls >= 2, f"{target} is not on the {stage} stage's path"
    expected = _tree(clean, stage)

    points = kill_points(calls, how_many=5, seed=26)
    print(f"{stage}: {calls} calls; killed at {points}")
    for point in points:
        workspace = tmp_path / f"killed-at-{point}"
        _params_file(workspace, small_corpus)
        if before:  # the same inputs (the ingest cases show that they come out the same)
            shutil.copytree(clean / "data", workspace / "data", ignore=_tokens)
        killed = run_killed_at(target, point, _stage(stage, workspace), workspace)
        assert killed.returncode == -9, f"not killed at call {point}: {killed.stderr[-2000:]}"
        rerun = run_killed_at(target, -1, _stage(stage, workspace), workspace)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert _tree(workspace, stage) == expected, f"{stage} killed at {target} call {point}"
