"""The wheel installs one import name, and an installed (not editable) doclstm runs the
whole pipeline in an empty folder: package data, Data Docs assets and the shipped
defaults are all found from the installed package, not from a checkout.

The fresh environment takes its dependencies from this one (a `.pth` line to its
site-packages) and doclstm only from the wheel: reinstalling torch and the rest would
cost minutes and gigabytes and prove nothing about doclstm's own packaging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_installs_only_doclstm_and_runs_the_pipeline_in_an_empty_folder(
    tmp_path: Path,
) -> None:
    # Built from a copy of what the wheel is made of: setuptools writes build/ beside it.
    source, dist = tmp_path / "source", tmp_path / "dist"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "doclstm", source / "doclstm", ignore=shutil.ignore_patterns("__pycache__")
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("doclstm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == {"doclstm"}, top
    for inside in ("doclstm/tasks/train.py", "doclstm/flows/nightly.py", "doclstm/tasks/table.py"):
        assert inside in names
    assert any(n.startswith("doclstm/sources/data_docs_assets/") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin/python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run(
        [python, "-c", "import doclstm, doclstm.tasks.train; print(doclstm.__file__)"],
        cwd=empty, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    for name in ("tasks", "flows"):
        gone = subprocess.run([python, "-c", f"import {name}"], cwd=empty, capture_output=True)
        assert gone.returncode != 0, f"`import {name}` works: the wheel installed it"

    env = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    env.pop("PYTHONPATH", None)
    sets = [arg for item in TINY for arg in ("--set", item)]
    run = subprocess.run(
        [env_dir / "bin/doclstm", "run", *sets, "--set", "train.epochs=1"],
        cwd=empty, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert (empty / "reports/metrics.json").is_file()
    assert (empty / "reports/validation/data_docs").is_dir()
    assert any((empty / "predictions").rglob("part-*.parquet"))
