"""Pretraining the encoder as a language model, and fine-tuning the classifier from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from doclstm.config.params import Params
from doclstm.config.workspace import encoder_folder
from doclstm.errors import DoclstmError
from doclstm.models.config import ModelConfig
from doclstm.models.encoder_file import ENCODER_WEIGHTS, load_encoder
from doclstm.models.model import SequenceClassifier
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split
from doclstm.tasks.table import run_stage
from tests.conftest import stage_fixture, tiny_params, tokens_workspace

PRETRAIN = [
    "pretrain.enabled=true",
    "pretrain.epochs=4",
    "pretrain.learning_rate=0.01",
    "pretrain.patience=4",
    "pretrain.batch_tokens=512",
    "pretrain.bptt=32",
    "pretrain.samples=256",
    "pretrain.held_out_fraction=0.1",
]


pretrained = stage_fixture("pretrain", *PRETRAIN)


def test_pretraining_lowers_held_out_perplexity_on_train_text_only(pretrained: Params) -> None:
    out = encoder_folder(pretrained)
    manifest = StageManifest.load(out)
    assert not manifest.problems(out)
    summary = manifest.summary
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    perplexities = [r["val_perplexity"] for r in history]
    # Untrained, the model is near uniform over the 2,000-word vocabulary.
    assert summary["initial_val_perplexity"] > 1_000
    assert summary["val_perplexity"] == min(perplexities) < summary["initial_val_perplexity"] / 3
    assert perplexities[-1] < perplexities[0]
    # It learned from train documents only (this corpus has no unlabelled ones).
    train = load_split(pretrained.base.workspace / "data/tokens", "train")
    assert summary["documents"] + summary["held_out_documents"] == len(train)
    assert summary["tokens"] + summary["held_out_tokens"] // 2 <= int(train.lengths.sum())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_pretraining_on_cuda_lowers_perplexity_at_every_precision(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, precision: str
) -> None:
    """The same stage on the GPU: cuDNN's packed recurrence, autocast and (fp16) the
    gradient scaler, through the sampled softmax."""
    params = tokens_workspace(
        tmp_path,
        built_workspace,
        small_corpus,
        *PRETRAIN,
        "train.device=cuda",
        f"train.precision={precision}",
    )
    run_stage("pretrain", params)
    summary = StageManifest.load(encoder_folder(params)).summary
    assert summary["device"].startswith("cuda")
    assert summary["val_perplexity"] < summary["initial_val_perplexity"] / 3


def test_a_second_run_reuses_the_encoder_whatever_the_classifier_dropout(
    pretrained: Params,
) -> None:
    # The language model has a dropout of its own (pretrain.dropout): the classifier's
    # does not change the encoder, so it must not retrain it.
    dropout = pretrained.train.model.dropout / 2
    model = pretrained.train.model.model_copy(update={"dropout": dropout})
    train = pretrained.train.model_copy(update={"model": model})
    assert run_stage("pretrain", pretrained.model_copy(update={"train": train})).cached


def test_fine_tuning_loads_every_encoder_tensor_by_name_and_shape(pretrained: Params) -> None:
    result = run_stage("train", pretrained)
    summary = StageManifest.load(result.model_dir).summary
    config = ModelConfig.build(2000, 5, pretrained.train.model)
    encoder = SequenceClassifier(config).encoder
    assert encoder is not None
    encoder_names = sorted(encoder.state_dict())
    assert {name.split(".")[0] for name in encoder_names} == {"embedding", "rnn"}
    assert summary["initialized_tensors"] == encoder_names
    assert summary["initialized_from"] == str(encoder_folder(pretrained))
    # The weights really are the pretrained ones before fine-tuning moves them.
    model = SequenceClassifier(config)
    tokens = StageManifest.load(pretrained.base.workspace / "data/tokens")
    load_encoder(model, config, encoder_folder(pretrained), tokens.files["tokenizer.json"].sha256)
    saved = load_file(str(encoder_folder(pretrained) / ENCODER_WEIGHTS))
    for name in encoder_names:
        loaded = model.state_dict()[f"encoder.{name}"]
        torch.testing.assert_close(loaded, saved[name], rtol=0, atol=0)


def test_the_registered_model_names_its_encoder_and_pretraining_run(
    pretrained: Params, built_workspace: Path
) -> None:
    """From the registry back to the language model: the version says it was fine-tuned,
    and its run carries the encoder's fingerprint, MLflow run and perplexity."""
    from mlflow import MlflowClient

    reports = pretrained.base.workspace / "reports/validation"
    shutil.copytree(built_workspace / "reports/validation", reports, dirs_exist_ok=True)
    for stage in ("train", "evaluate"):
        run_stage(stage, pretrained)
    registered = run_stage("register", pretrained)
    encoder = StageManifest.load(encoder_folder(pretrained))
    client = MlflowClient(registered.tracking_uri)
    pretraining = client.get_run(encoder.summary["mlflow_run_id"])
    assert pretraining.data.metrics["val/perplexity"] == pytest.approx(
        encoder.summary["val_perplexity"]
    )
    run = client.get_run(registered.run_id)
    assert run.info.run_id != pretraining.info.run_id
    assert run.data.tags["pretrain.encoder_fingerprint"] == encoder.fingerprint
    assert run.data.tags["pretrain.mlflow_run_id"] == pretraining.info.run_id
    assert run.data.tags["pretrain.mlflow_tracking_uri"] == registered.tracking_uri
    assert run.data.metrics["pretrain/val_perplexity"] == pytest.approx(
        encoder.summary["val_perplexity"]
    )
    version = client.get_model_version(registered.model_name, registered.version)
    assert version.tags["pretrained_encoder"] == encoder.fingerprint


def test_a_kept_tokenizer_lets_an_encoder_outlive_new_data(
    pretrained: Params, bbc_root: Path, tmp_path: Path
) -> None:
    """Pretrain once, fine-tune on tomorrow's data: with the tokenizer kept
    (`tokenize.tokenizer`) the new tokens share the encoder's vocabulary and training
    starts from it; with a tokenizer trained on the new data the encoder is refused."""
    corpus = tmp_path / "corpus"  # another slice of BBC News: half of it new documents
    for label_dir in sorted(p for p in bbc_root.iterdir() if p.is_dir()):
        (corpus / label_dir.name).mkdir(parents=True)
        for path in sorted(label_dir.glob("*.txt"))[30:90]:
            shutil.copyfile(path, corpus / label_dir.name / path.name)
    kept = tmp_path / "kept-tokenizer.json"
    shutil.copyfile(pretrained.base.workspace / "data/tokens/tokenizer.json", kept)
    encoder = encoder_folder(pretrained)
    fresh = tiny_params(tmp_path / "fresh", corpus, f"train.init_from={encoder}")
    pinned = tiny_params(
        tmp_path / "pinned", corpus, f"train.init_from={encoder}", f"tokenize.tokenizer={kept}"
    )
    for params in (fresh, pinned):
        for stage in ("ingest", "validate", "tokenize"):
            run_stage(stage, params)
    with pytest.raises(DoclstmError, match="another tokenizer"):
        run_stage("train", fresh)
    kept.unlink()  # only tokenize reads it: the tokens folder holds its copy
    summary = StageManifest.load(run_stage("train", pinned).model_dir).summary
    assert summary["encoder_fingerprint"] == StageManifest.load(encoder).fingerprint
    assert len(summary["initialized_tensors"]) == len(load_file(str(encoder / ENCODER_WEIGHTS)))


def test_an_encoder_that_does_not_fit_is_refused(pretrained: Params, tmp_path: Path) -> None:
    folder = encoder_folder(pretrained)
    sha = StageManifest.load(pretrained.base.workspace / "data/tokens").files["tokenizer.json"]
    fields = pretrained.train.model.model_dump()
    other = ModelConfig.build(2000, 5, **{**fields, "hidden_size": 16})
    with pytest.raises(DoclstmError, match="hidden_size"):
        load_encoder(SequenceClassifier(other), other, folder, sha.sha256)
    config = ModelConfig.build(2000, 5, **fields)
    with pytest.raises(DoclstmError, match="another tokenizer"):
        load_encoder(SequenceClassifier(config), config, folder, "0" * 64)
    # A file with a tensor too many (or too few) is refused, not half loaded.
    shutil.copytree(folder, tmp_path / "enc")
    state = load_file(str(folder / ENCODER_WEIGHTS))
    save_file({**state, "rnn.extra": torch.zeros(1)}, str(tmp_path / "enc" / ENCODER_WEIGHTS))
    with pytest.raises(DoclstmError, match=r"unexpected \['rnn.extra'\]"):
        load_encoder(SequenceClassifier(config), config, tmp_path / "enc", sha.sha256)
    state.pop("embedding.weight")
    save_file(state, str(tmp_path / "enc" / ENCODER_WEIGHTS))
    with pytest.raises(DoclstmError, match=r"missing \['embedding.weight'\]"):
        load_encoder(SequenceClassifier(config), config, tmp_path / "enc", sha.sha256)


def test_train_refuses_an_encoder_folder_without_an_encoder(
    pretrained: Params, small_corpus: Path, tmp_path: Path
) -> None:
    """A pretrain run with pretrain.enabled false leaves only a manifest: train must not
    start from it as if it were an encoder, nor quietly start from scratch."""
    off = tokens_workspace(tmp_path, pretrained.base.workspace, small_corpus)
    assert not run_stage("pretrain", off).enabled
    on = tiny_params(tmp_path, small_corpus, "train.init_from=models/main.encoder")
    with pytest.raises(DoclstmError, match=r"pretrain\.enabled false"):
        run_stage("train", on)


def test_a_held_out_share_that_leaves_nothing_out_is_refused(
    pretrained: Params, small_corpus: Path, tmp_path: Path
) -> None:
    params = tokens_workspace(
        tmp_path,
        pretrained.base.workspace,
        small_corpus,
        *PRETRAIN,
        "pretrain.held_out_fraction=1e-9",
    )
    with pytest.raises(DoclstmError, match="held_out_fraction"):
        run_stage("pretrain", params)
