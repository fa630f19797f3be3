"""A stage run as `doclstm stage NAME` in a child process, killed with SIGKILL once it
has written a checkpoint in the middle of an epoch, then run again to the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from doclstm.config.params import Params
from doclstm.training.checkpoint import STATE

ROOT = Path(__file__).resolve().parents[1]


def write_params(params: Params) -> Path:
    """`params` as the params.yaml of its workspace, where the child process reads it."""
    root = params.base.workspace
    (root / "params.yaml").write_text(
        yaml.safe_dump(params.model_dump(mode="json", by_alias=True)), encoding="utf-8"
    )
    return root


def stage_process(root: Path, stage: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "doclstm.cli", "stage", stage, "-p", "params.yaml"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.PIPE)


def _mid_epoch_checkpoint(checkpoint: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((checkpoint / STATE).read_text())["state"]
    except (OSError, ValueError, KeyError):
        return None  # not written yet, or between renames
    return state if state["progress"]["epoch"] >= 2 and state["sampler"]["position"] > 0 else None


def kill_mid_epoch(root: Path, stage: str, checkpoint: Path) -> dict[str, Any]:
    """Run `stage` in `root` and SIGKILL it once `checkpoint` holds a state from the middle
    of its second epoch or later; that state."""
    process = stage_process(root, stage)
    deadline = time.monotonic() + 600
    while (seen := _mid_epoch_checkpoint(checkpoint)) is None:
        assert process.poll() is None, "the stage ended before a mid-epoch checkpoint was seen"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return seen


def run_to_the_end(root: Path, stage: str) -> None:
    process = stage_process(root, stage)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()[-3000:]
