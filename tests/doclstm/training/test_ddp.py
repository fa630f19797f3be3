"""Two DDP processes on CPU (gloo) train on disjoint batches and end with identical weights:
the classifier, and the language model that pretraining trains through the same loop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("objective", "monitor"), [("classifier", "val_macro_f1"), ("language_model", "val_perplexity")]
)
def test_two_gloo_ranks_end_with_identical_weights(
    built_workspace: Path, tmp_path: Path, objective: str, monitor: str
) -> None:
    repo = Path(__file__).resolve().parents[3]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "tests.doclstm.training.ddp_worker",
        str(built_workspace / "data/tokens"),
        str(tmp_path),
        objective,
    ]
    done = subprocess.run(
        command,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    # Both ranks saw the same validation results, so they agree on early stopping too.
    histories = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [h[monitor] for h in histories[0]] == [h[monitor] for h in histories[1]]
    assert len(histories[0]) == 2
