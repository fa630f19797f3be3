"""The teacher stage on a small real slice: MiniLM fine-tuned past where it starts, its
test metrics reported but never read before everything is chosen, its transfer set
computed once and reused, and a student that distils it agreeing with it more."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from doclstm.config.params import Params
from doclstm.config.workspace import teacher_folder, workspace
from doclstm.models.inference import predict_probabilities
from doclstm.models.model_folder import load_model_dir
from doclstm.models.teacher_model import document_windows, load_teacher
from doclstm.storage.fingerprint import sha256_file
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import concat_splits, load_split
from doclstm.tasks.table import run_stage
from doclstm.text.tokenizer import load_tokenizer
from doclstm.training.checkpoint import resume_dir
from doclstm.training.teacher_fit import decoded_texts, document_logits
from doclstm.training.transfer_set import load_transfer_set, teacher_transfer_set
from tests.conftest import permute_test_labels, stage_fixture, tiny_params
from tests.stage_kills import kill_mid_epoch, run_to_the_end, write_params

TEACHER = [
    "teacher.enabled=true",
    "teacher.window_tokens=64",
    "teacher.epochs=2",
    "teacher.learning_rates=[0.0003]",  # 26 steps of 16 windows: 5e-5 leaves it unsure
    "teacher.batch_size=16",
    "teacher.train_windows=1",
    "teacher.augmented_copies=1",
]
# A student whose agreement with the teacher is its RNN's alone (no bag), trained long
# enough on 200 documents to learn what it is taught.
STUDENT = [
    "train.model.bag_buckets=0",
    "train.epochs=12",
    "train.patience=12",
    "train.learning_rate=0.01",
]

taught = stage_fixture("teacher", *TEACHER)


def test_fine_tuning_raises_val_accuracy_and_reports_test_after_choosing(
    taught: Params,
) -> None:
    out = teacher_folder(taught)
    manifest = StageManifest.load(out)
    assert not manifest.problems(out)
    summary = manifest.summary
    assert summary["enabled"] and summary["learning_rate"] == 3e-4
    assert summary["val"]["accuracy"] > summary["val_accuracy_before"] + 0.2
    assert 0 <= summary["test"]["accuracy"] <= 1  # reported beside val, chosen by nothing
    history = json.loads((out / "history.json").read_text())["0.0003"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert summary["best_epoch"] == 1 + int(np.argmax([r["val_accuracy"] for r in history]))
    assert summary["mlflow_run_id"]
    # windows of 64 pieces over documents of 128 tokens: both combinations measured on val
    by = summary["val_by_combination"]
    assert set(by) == {"mean", "recurrence"} and 1 <= summary["reader_epoch"] <= 20
    kept = by[summary["combine"]]["val_accuracy"]
    assert kept == max(m["val_accuracy"] for m in by.values())
    assert summary["val"]["accuracy"] == pytest.approx(kept)
    transfer = StageManifest.load(workspace(taught).transfer).summary
    train = load_split(workspace(taught).tokens, "train")
    assert transfer["documents"] == {"train": len(train), "augmented": len(train)}
    assert transfer["teacher_fingerprint"] == manifest.fingerprint


def test_a_second_run_reuses_the_teacher_and_its_logits(taught: Params) -> None:
    result = run_stage("teacher", taught)
    assert result.cached and result.transfer_cached


def _agreement(params: Params, teacher_dir: Path) -> float:
    """How often the trained student's predictions are the teacher's, over the val and
    test documents (a measurement of the test, not a choice of the product's)."""
    ws = workspace(params)
    documents = concat_splits([load_split(ws.tokens, "val"), load_split(ws.tokens, "test")])
    student = load_model_dir(ws.model_dir(params.train.run_name)).model
    mine = predict_probabilities(student, documents.sequences, 65536).argmax(1)
    teacher, config = load_teacher(teacher_dir, torch.device("cpu"))
    texts = decoded_texts(load_tokenizer(ws.tokens / "tokenizer.json"), documents)
    windows = document_windows(texts, config["window_tokens"], config["stride"])
    teacher_logits = document_logits(teacher, windows.ids, windows.owner, 8192, torch.device("cpu"))
    return float((mine == teacher_logits.argmax(1)).mean())


def test_a_distilled_student_agrees_with_its_teacher_more(taught: Params) -> None:
    root = taught.base.workspace
    distilled = tiny_params(root, Path("unused"), *TEACHER, *STUDENT, "train.distill.weight=0")
    run_stage("train", distilled)
    with_teacher = _agreement(distilled, teacher_folder(taught))
    alone = tiny_params(
        root, Path("unused"), *STUDENT, "teacher.enabled=false", "train.run_name=alone"
    )
    run_stage("train", alone)
    assert StageManifest.load(workspace(alone).model_dir("alone")).summary["distillation"] is None
    without = _agreement(alone, teacher_folder(taught))
    assert with_teacher > without + 0.05, (with_teacher, without)


@pytest.mark.slow
def test_killed_on_permuted_test_labels_then_resumed_gives_the_same_teacher_and_student(
    taught: Params, tmp_path: Path
) -> None:
    """Two properties in one run of the teacher (each costs a fine-tuning of MiniLM): a
    teacher SIGKILLed mid fine-tuning resumes to the uninterrupted one's weights and
    logits, and nothing before evaluate reads the test labels (not the teacher's
    choices, its transfer set, the student's training, calibration or blend): on tokens
    whose test labels were permuted, the killed and resumed run gives the teacher,
    transfer set and student of the fixture's run on the true labels, byte for byte."""
    run_stage("train", taught)
    weights = workspace(taught).model_dir("main") / "model.safetensors"
    shutil.copytree(taught.base.workspace / "data/tokens", tmp_path / "data/tokens")
    permute_test_labels(tmp_path / "data/tokens")
    killed = tiny_params(tmp_path, Path("unused"), *TEACHER, "teacher.checkpoint_steps=3")
    out = teacher_folder(killed)
    seen = kill_mid_epoch(write_params(killed), "teacher", resume_dir(out) / "rate-0")
    assert not out.exists()  # no teacher folder that looks whole
    run_to_the_end(tmp_path, "teacher")
    summary = StageManifest.load(out).summary
    assert summary["resumed_at_step"] >= seen["progress"]["step"] > 0
    assert not resume_dir(out).exists()
    name = "teacher.safetensors"
    assert sha256_file(out / name) == sha256_file(teacher_folder(taught) / name)
    ours, theirs = workspace(killed).transfer, workspace(taught).transfer
    assert StageManifest.load(ours).files == StageManifest.load(theirs).files
    original = StageManifest.load(teacher_folder(taught)).summary
    assert summary["val"] == original["val"]  # the same teacher...
    assert summary["test"] != original["test"]  # ...scored on the permuted labels
    run_stage("train", tiny_params(tmp_path, Path("unused"), *TEACHER))
    again = workspace(killed).model_dir("main") / "model.safetensors"
    assert again.read_bytes() == weights.read_bytes()


@pytest.mark.slow
def test_ray_tasks_compute_the_logits_this_process_does(taught: Params, tmp_path: Path) -> None:
    """The transfer set's shards as Ray tasks on a local Ray instance: each worker loads
    the teacher from its folder, the coordinator writes the shards."""
    ws = workspace(taught)
    settings = taught.teacher.model_copy(
        update={"runner": "ray", "workers": 2, "augmented_copies": 0, "shard_documents": 50}
    )
    tokens, teacher = StageManifest.load(ws.tokens), StageManifest.load(teacher_folder(taught))
    out, cpu = tmp_path / "transfer", torch.device("cpu")
    made = teacher_transfer_set(
        settings,
        taught.base.seed,
        ws.tokens,
        tokens,
        teacher_folder(taught),
        teacher,
        out,
        cpu,
        None,
    )
    train = len(load_split(ws.tokens, "train"))
    assert made.shards_computed == -(-train // 50) and made.documents == {"train": train}
    remote = load_transfer_set(out, tokens.fingerprint, teacher.fingerprint)
    local = load_transfer_set(ws.transfer, tokens.fingerprint, teacher.fingerprint)
    assert remote is not None and local is not None
    assert remote[0].doc_ids == local[0].doc_ids[:train]
    np.testing.assert_allclose(
        remote[0].teacher_logits, local[0].teacher_logits[:train], rtol=0, atol=1e-4
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_the_teacher_fine_tunes_on_cuda_under_bf16_autocast(taught: Params, tmp_path: Path) -> None:
    shutil.copytree(taught.base.workspace / "data/tokens", tmp_path / "data/tokens")
    params = tiny_params(tmp_path, Path("unused"), *TEACHER, "teacher.device=cuda")
    result = run_stage("teacher", params)
    summary = StageManifest.load(result.teacher_dir).summary
    assert summary["device"].startswith("cuda") and summary["precision"] == "bf16"
    assert summary["val"]["accuracy"] > summary["val_accuracy_before"]
