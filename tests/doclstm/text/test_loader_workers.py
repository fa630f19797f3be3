"""A trainer killed with SIGKILL takes its data-loader workers with it.

The workers start from a fork server, so their parent is the fork server, not the
trainer, and torch's own watchdog (is my parent alive?) never fires; each worker
also holds the fork server's liveness pipe open, so the fork server never exits
either. Without a watch on the trainer itself, every killed training left its
workers behind for good (~190 MB each, ~270 MB for the fork server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = """
import json, sys, time
import numpy as np, torch
from doclstm.text.batching import BucketBatchSampler, batch_loader
from doclstm.storage.token_data import TokenSplit, offsets_of

lengths = np.arange(1, 41)
split = TokenSplit(
    [str(i) for i in range(40)],
    np.zeros(40, dtype=np.int64),
    np.ones(int(lengths.sum()), dtype=np.int32),
    offsets_of(lengths),
)
sampler = BucketBatchSampler(lengths.tolist(), 64, 8, 0)
loader = batch_loader(split, sampler, 2, torch.device("cpu"), 0)
next(iter(loader))
print(json.dumps([w.pid for w in loader._iterator._workers]), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_loader_workers_exit_when_the_trainer_is_killed() -> None:
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    workers = json.loads(child.stdout.readline())
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)

    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # do not leave them behind for the rest of the suite either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their trainer by 30 s"
