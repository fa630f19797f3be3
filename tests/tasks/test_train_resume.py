"""Kill training (or pretraining) mid-epoch with SIGKILL, start it again, end with the
uninterrupted weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doclstm.storage import manifest as stage_manifest
from doclstm.storage.fingerprint import sha256_file
from doclstm.tasks.table import run_stage
from doclstm.training.checkpoint import resume_dir, save_training_state
from tests.conftest import tokens_workspace
from tests.stage_kills import kill_mid_epoch, run_to_the_end, write_params

# Small batches, so an epoch has dozens of steps and checkpoints to land between.
RESUME = [
    "train.epochs=3",
    "train.patience=3",
    "train.batch_tokens=512",
    "train.checkpoint_steps=3",
    "train.loader_workers=1",
]
# The pretrain stage: the same loop with the language-model objective.
PRETRAIN = [
    "pretrain.enabled=true",
    "pretrain.epochs=3",
    "pretrain.patience=3",
    "pretrain.batch_tokens=512",
    "pretrain.checkpoint_steps=3",
    "pretrain.samples=64",
]
# stage: its output folder, weights file, and the history columns that must agree
STAGES = {
    "train": ("models/main", "model.safetensors", ("val_accuracy", "val_macro_f1", "val_log_loss")),
    "pretrain": ("models/main.encoder", "encoder.safetensors", ("val_perplexity",)),
}


def _workspace(built_workspace: Path, small_corpus: Path, root: Path, stage: str) -> Path:
    extra = PRETRAIN if stage == "pretrain" else []
    return write_params(tokens_workspace(root, built_workspace, small_corpus, *RESUME, *extra))


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_sigkill_mid_epoch_then_resume_gives_identical_weights(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, stage: str
) -> None:
    out, weights, metrics = STAGES[stage]
    straight = _workspace(built_workspace, small_corpus, tmp_path / "straight", stage)
    killed = _workspace(built_workspace, small_corpus, tmp_path / "killed", stage)
    run_to_the_end(straight, stage)
    checkpoint = killed / f"{out}.resume"
    seen = kill_mid_epoch(killed, stage, checkpoint)
    assert not (killed / out).exists()  # no output folder that looks whole
    run_to_the_end(killed, stage)
    ours, theirs = killed / out, straight / out
    summary = json.loads((ours / "manifest.json").read_text())["summary"]
    assert summary["resumed_at_step"] >= seen["progress"]["step"] > 0
    assert sha256_file(ours / weights) == sha256_file(theirs / weights)
    ours_history = json.loads((ours / "history.json").read_text())
    theirs_history = json.loads((theirs / "history.json").read_text())
    for key in ("epoch", "train_loss", *metrics):
        assert [r[key] for r in ours_history] == [r[key] for r in theirs_history]
    assert not checkpoint.exists()  # removed once the model is written


def test_checkpoint_for_other_settings_is_not_resumed(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    params = tokens_workspace(tmp_path, built_workspace, small_corpus, "train.epochs=1")
    checkpoint = resume_dir(tmp_path / "models/main")
    save_training_state(checkpoint, {"fingerprint": "some other training"})
    result = run_stage("train", params)
    assert result.resumed_at_step is None and not checkpoint.exists()


def test_outputs_of_other_code_are_trained_again(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No compatibility branch reads what other code wrote: another code digest makes the
    same model folder and resume checkpoint miss, and the stage reruns."""
    params = tokens_workspace(tmp_path, built_workspace, small_corpus, "train.epochs=1")
    first = run_stage("train", params)
    manifest = first.model_dir / "manifest.json"
    before = json.loads(manifest.read_text())["fingerprint"]
    assert run_stage("train", params).cached
    checkpoint = resume_dir(first.model_dir)
    save_training_state(checkpoint, {"fingerprint": before})  # as a killed older run left
    monkeypatch.setattr(stage_manifest, "code_digest", lambda module: "0" * 64)
    again = run_stage("train", params)
    assert not again.cached and again.resumed_at_step is None and not checkpoint.exists()
    assert json.loads(manifest.read_text())["fingerprint"] != before
