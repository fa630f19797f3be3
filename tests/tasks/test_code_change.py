"""A stage's output follows the code that computed it: a changed function body in a
module train imports reruns train and everything after it, while the data stages are
reused; a docstring, a comment or the command line's help reruns nothing.

Each round runs every training stage in a fresh process that imports a copy of the
package (PYTHONPATH), so the code digests are computed from the copy's edited files.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, registered_fixture

ROOT = Path(__file__).resolve().parents[2]
registered = registered_fixture("code_change")
ROUND = """
import json, sys
import doclstm
from doclstm.config.params import load_params
from doclstm.tasks.table import TRAINING_STAGES, run_stage

params = load_params(None, json.loads(sys.argv[1]))
ran = {"package": doclstm.__file__}
for stage in TRAINING_STAGES:
    ran[stage.name] = bool(run_stage(stage.name, params).cached)
print(json.dumps(ran))
"""


def _round(source: Path, workspace: Path, corpus: Path) -> dict[str, bool]:
    overrides = [f"base.workspace={workspace}", f"ingest.source={corpus}", *TINY]
    done = subprocess.run(
        [sys.executable, "-c", ROUND, json.dumps(overrides)],
        cwd=source.parent,  # not the checkout: its doclstm/ must not come first
        env={**os.environ, "PYTHONPATH": str(source.parent)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ran = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(ran.pop("package")).parent == source  # the copy ran, not the checkout
    # pretrain and teacher are off: each writes a manifest saying so, and nothing else
    return {name: cached for name, cached in ran.items() if name not in ("pretrain", "teacher")}


def _insert_into_body(path: Path, function: str, line: str) -> None:
    """Put `line` first in `function`'s body, after its docstring."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tree = ast.parse("".join(lines))
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    first = node.body[1] if ast.get_docstring(node) else node.body[0]
    indent = " " * first.col_offset
    lines.insert(first.lineno - 1, f"{indent}{line}\n")
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.slow
def test_a_changed_function_reruns_train_and_what_follows_and_prose_reruns_nothing(
    registered: Path, small_corpus: Path, tmp_path: Path
) -> None:
    workspace = registered  # a copy of a built workspace in which every stage has run
    source = tmp_path / "src/doclstm"
    shutil.copytree(ROOT / "doclstm", source, ignore=shutil.ignore_patterns("__pycache__"))

    # The same code elsewhere on disk: everything is reused.
    assert all(_round(source, workspace, small_corpus).values())

    # What the code does changes in a module train imports (not train's own).
    _insert_into_body(source / "training/bag_fit.py", "fit_bag", "assert bag is not None")
    second = _round(source, workspace, small_corpus)
    reused = [name for name, cached in second.items() if cached]
    assert reused == ["ingest", "validate", "tokenize"], second

    # A reworded docstring, a comment and the command line's help change nothing.
    bag_fit = source / "training/bag_fit.py"
    text = bag_fit.read_text(encoding="utf-8")
    bag_fit.write_text(text.replace('"""', '"""Reworded. ', 1) + "# a comment\n")
    commands = source / "cli/commands.py"
    help_text = "Run one stage as a plain function (no Prefect): what dvc.yaml calls."
    assert help_text in commands.read_text(encoding="utf-8")
    commands.write_text(commands.read_text(encoding="utf-8").replace(help_text, "Run a stage."))
    assert all(_round(source, workspace, small_corpus).values())
