"""The nightly training key: DVC's own hashes, what changes it, and when the registry skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from doclstm.config.params import load_params
from doclstm.registry.model_registry import Registry
from doclstm.registry.training_key import KEY_TAG, TrainingKey, check_unchanged, training_key
from doclstm.storage.data_hash import dvc_md5
from doclstm.storage.manifest import StageManifest
from doclstm.tasks.table import score_arguments, training_code

ROOT = Path(__file__).resolve().parents[3]
MODEL = "nightly-test"


def _dvc_add(repo: Path, target: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if not (repo / ".dvc").is_dir():
        subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=repo, env=env, check=True)
    subprocess.run(["dvc", "add", "-q", target], cwd=repo, env=env, check=True, timeout=120)
    out = yaml.safe_load((repo / f"{target}.dvc").read_text())["outs"][0]
    return str(out["md5"])


@pytest.mark.slow
def test_dvc_md5_is_what_dvc_add_writes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    docs = repo / "docs"
    for label, text in [("pos", "good film"), ("neg", "bad film"), ("neg", "dull\n")]:
        (docs / label).mkdir(parents=True, exist_ok=True)
        (docs / label / f"{len(list((docs / label).iterdir()))}.txt").write_text(text)
    (repo / "one.csv").write_text("text,label\nfine,pos\n")
    ours_dir = dvc_md5(docs, tmp_path / "state")
    ours_file = dvc_md5(repo / "one.csv", tmp_path / "state")
    assert ours_dir.endswith(".dir")
    assert ours_dir == _dvc_add(repo, "docs")
    assert ours_file == _dvc_add(repo, "one.csv")


def test_dvc_md5_follows_content_not_timestamps(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "pos").mkdir(parents=True)
    (docs / "pos/a.txt").write_text("good")
    state = tmp_path / "state"
    first = dvc_md5(docs, state)
    os.utime(docs / "pos/a.txt", (1, 1))  # touched, same bytes
    assert dvc_md5(docs, state) == first
    (docs / "pos/a.txt").write_text("great")
    changed = dvc_md5(docs, state)
    assert changed != first
    (docs / "pos/a.txt").write_text("good")
    assert dvc_md5(docs, state) == first


def test_training_key_changes_with_data_and_model_params_only(
    tmp_path: Path, small_corpus: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    state = tmp_path / "state"

    def key(*overrides: str, code: str = training_code()) -> TrainingKey:
        params = load_params(
            ROOT / "params.yaml",
            [f"ingest.source={corpus}", f"base.workspace={tmp_path / 'ws'}", *overrides],
        )
        return training_key(params, state, code)

    base = key()
    # New training code trains a new model from the same data and params.
    assert key(code="0" * 64).digest != base.digest
    assert set(base.data) and all(len(v) > 30 for v in base.data.values())
    # Where and how to score, when to run and how long to wait: the same model.
    assert key("score.batch_tokens=1024", "score.output=elsewhere").digest == base.digest
    assert key("nightly.cron=0 3 * * *", "base.lock_wait_seconds=60").digest == base.digest
    assert key(f"base.workspace={tmp_path / 'other'}").digest == base.digest
    # What the model is built from: another model.
    assert key("train.learning_rate=0.01").digest != base.digest
    assert key("tokenize.model=wordpiece").digest != base.digest
    # MiniLM's vocabulary trains nothing: a trained tokenizer's settings are not it.
    assert key("tokenize.vocab_size=3000").digest == base.digest
    wordpiece = key("tokenize.model=wordpiece")
    assert key("tokenize.model=wordpiece", "tokenize.vocab_size=3000").digest != wordpiece.digest
    assert key("base.seed=7").digest != base.digest
    # A kept tokenizer counts by its content, wherever it lies.
    kept = tmp_path / "ws/kept.json"
    kept.parent.mkdir()
    kept.write_text('{"model": 1}')
    pinned = key("tokenize.tokenizer=kept.json")
    assert pinned.digest != base.digest
    shutil.copyfile(kept, tmp_path / "moved.json")
    assert key(f"tokenize.tokenizer={tmp_path / 'moved.json'}").digest == pinned.digest
    kept.write_text('{"model": 2}')
    assert key("tokenize.tokenizer=kept.json").digest != pinned.digest
    # So does a kept encoder (train.init_from): by its manifest's fingerprint.
    for folder, fingerprint in (("ws/enc", "a" * 64), ("elsewhere", "a" * 64), ("ws/b", "b" * 64)):
        (tmp_path / folder).mkdir()
        StageManifest("pretrain", fingerprint, {}, {"enabled": True}).write(tmp_path / folder)
    started = key("train.init_from=enc")
    assert started.digest != base.digest
    assert key(f"train.init_from={tmp_path / 'elsewhere'}").digest == started.digest
    assert key("train.init_from=b").digest != started.digest
    one = next(corpus.rglob("*.txt"))
    one.write_text(one.read_text() + " An added sentence.")
    changed = key()
    assert changed.params == base.params and changed.data != base.data


def _version(client: MlflowClient, source: Path, key: TrainingKey | None) -> str:
    version = client.create_model_version(MODEL, str(source)).version
    for name, value in (key.tags() if key else {}).items():
        client.set_model_version_tag(MODEL, version, name, value)
    return str(version)


def test_registry_skip_rules(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model(MODEL)
    source = tmp_path / "model"
    source.mkdir()
    registry = Registry(uri, MODEL)
    key = TrainingKey({"docs": "0" * 32 + ".dir"}, "a" * 64)
    other = TrainingKey({"docs": "1" * 32 + ".dir"}, "a" * 64)

    assert not check_unchanged(uri, MODEL, key).skip  # nothing registered yet

    v1 = _version(client, source, key)
    registry.promote(v1, "first", "test")
    check = check_unchanged(uri, MODEL, key)
    assert check.skip and check.version == v1
    assert f"unchanged since champion version {v1}" in check.reason
    assert not check_unchanged(uri, MODEL, other).skip  # new data: train

    # A version trained on `other` and turned down by the gate: same data, skip again.
    v2 = _version(client, source, other)
    registry.reject(v2, "not significant", "gate")
    check = check_unchanged(uri, MODEL, other)
    assert check.skip and check.version == v2
    assert "rejected by gate" in check.reason and "not significant" in check.reason
    # A version with the key but no decision yet (a crash before the gate): train again.
    v3 = _version(client, source, TrainingKey({"docs": "2" * 32 + ".dir"}, "a" * 64))
    assert client.get_model_version(MODEL, v3).tags.get(KEY_TAG)
    assert not check_unchanged(uri, MODEL, TrainingKey({"docs": "2" * 32 + ".dir"}, "a" * 64)).skip


def test_score_defaults_to_the_champion(tmp_path: Path) -> None:
    params = load_params(ROOT / "params.yaml", [f"base.workspace={tmp_path}", "score.model=''"])
    score = score_arguments(params).params
    assert score.model == f"models:/{params.register_.model_name}@champion"
    pinned = load_params(ROOT / "params.yaml", [f"base.workspace={tmp_path}", "score.model=m/x"])
    assert score_arguments(pinned).params.model == "m/x"
