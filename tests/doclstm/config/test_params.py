from pathlib import Path
from typing import Any

import pytest

from doclstm.config.params import Params, load_params
from doclstm.errors import DoclstmError
from doclstm.registry.training_key import model_params_hash

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_params_yaml_loads_and_sets_every_group() -> None:
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert params.tokenize.max_tokens > 0
    assert params.register_.model_name == "doclstm-bbcnews"


def test_the_imdb_profile_loads_and_reads_the_public_archive_from_the_checkout() -> None:
    """What a user downloads is aclImdb_v1.tar.gz; the profile must name that, relative
    to where they run it, and nothing outside a clone."""
    params = load_params(ROOT / "profiles/imdb.yaml")
    assert [s.path for s in params.ingest.source] == [params.score.input.path]
    assert params.score.input.path == "aclImdb_v1.tar.gz"
    assert "../" not in (ROOT / "profiles/imdb.yaml").read_text()


def test_the_typed_defaults_are_the_shipped_params_yaml() -> None:
    """One source of defaults: what `Params()` gives is what params.yaml ships, so code
    that builds params without the file (tests, benchmarks, library users) trains the
    settings users run."""
    shipped = _leaves(load_params(ROOT / "params.yaml").model_dump())
    defaults = _leaves(load_params(None).model_dump())
    assert {k: (v, defaults[k]) for k, v in shipped.items() if defaults[k] != v} == {}


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train.model.cell": "lstm", ...}`: every setting by its dotted key."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_leaves(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_override_changes_one_nested_key() -> None:
    params = load_params(ROOT / "params.yaml", ["train.model.hidden_size=7", "train.epochs=3"])
    assert params.train.model.hidden_size == 7
    assert params.train.epochs == 3


def test_unknown_key_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  epocs: 3\n")
    with pytest.raises(DoclstmError, match=r"train\.epocs"):
        load_params(bad)


def test_bad_value_is_named() -> None:
    with pytest.raises(DoclstmError, match=r"train\.model\.cell"):
        load_params(None, ["train.model.cell=transformer"])
    with pytest.raises(DoclstmError, match=r"tokenize\.vocab_size"):
        load_params(None, ["tokenize.vocab_size=-5"])


def test_broken_yaml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(DoclstmError, match=r"params\.yaml: not valid YAML"):
        load_params(bad)
    with pytest.raises(DoclstmError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_malformed_override() -> None:
    with pytest.raises(DoclstmError, match="expected KEY=VALUE"):
        load_params(None, ["train.epochs"])


def test_fractions_must_leave_training_data() -> None:
    with pytest.raises(DoclstmError, match="leave <10% to train"):
        load_params(None, ["ingest.test_fraction=0.9", "ingest.val_fraction=0.9"])


def test_hierarchical_settings_shape_only_hierarchical_models() -> None:
    """A flat model's fingerprint ignores the window settings; a hierarchical one's does not."""

    def settings(*overrides: str) -> dict:
        return load_params(None, list(overrides)).train.result_settings()

    assert settings("train.model.chunk_tokens=300") == settings()
    assert "chunk_tokens" not in settings()["model"]
    hierarchical = settings("train.model.kind=hierarchical")
    assert hierarchical != settings("train.model.kind=hierarchical", "train.model.chunk_tokens=300")
    assert hierarchical["model"]["max_chunks"] == 0


def test_a_stride_over_the_window_is_refused() -> None:
    with pytest.raises(DoclstmError, match="chunk_stride"):
        load_params(None, ["train.model.chunk_tokens=10", "train.model.chunk_stride=20"])


def test_fine_tuning_and_pretraining_settings_shape_only_models_that_use_them() -> None:
    """Fine-tuning settings are part of every training's result; pretraining's only when
    it is on; a flat model's hierarchical settings are part of none."""

    def settings(*overrides: str) -> dict:
        return load_params(None, list(overrides)).train.result_settings()

    def nightly(*overrides: str) -> str:
        return model_params_hash(load_params(None, list(overrides)), "code")

    assert {"layer_lr_decay", "unfreeze", "init_from"} <= set(settings())
    assert settings("train.model.chunk_tokens=300") == settings()
    assert nightly("train.model.chunk_tokens=300") == nightly()
    assert settings("train.unfreeze=gradual")["unfreeze"] == "gradual"
    assert settings("train.layer_lr_decay=2.6") != settings()
    assert nightly("pretrain.epochs=5") == nightly()
    on = nightly("pretrain.enabled=true")
    assert on != nightly() and on != nightly("pretrain.enabled=true", "pretrain.epochs=5")


def test_minilm_embedding_init_needs_an_embedding_of_at_most_384_dimensions() -> None:
    assert load_params(None, ["train.model.embedding_init=minilm"]).train.model.embedding_dim
    with pytest.raises(DoclstmError, match="embedding_dim 512 must be at most 384"):
        load_params(None, ["train.model.embedding_init=minilm", "train.model.embedding_dim=512"])
    with pytest.raises(DoclstmError, match="chunk_encoder minilm has no embedding"):
        load_params(
            None,
            [
                "train.model.embedding_init=minilm",
                "train.model.kind=hierarchical",
                "train.model.chunk_encoder=minilm",
            ],
        )
    settings = load_params(None, ["train.model.embedding_init=minilm"]).train.result_settings()
    random = load_params(None, ["train.model.embedding_init=random"]).train.result_settings()
    assert settings != random  # it shapes the weights


def test_rnn_tokens_cuts_only_a_flat_model_and_both_new_settings_shape_the_weights() -> None:
    with pytest.raises(DoclstmError, match="rnn_tokens cuts a flat model"):
        load_params(None, ["train.model.rnn_tokens=512", "train.model.kind=hierarchical"])
    plain = load_params(None).train.result_settings()
    for setting in ("train.model.rnn_tokens=512", "train.model.bag_buckets=1024"):
        assert load_params(None, [setting]).train.result_settings() != plain


def test_rnn_share_is_auto_or_a_share_and_shapes_the_model() -> None:
    assert load_params(None).train.model.rnn_share == "auto"  # chosen on val, per corpus
    assert load_params(None, ["train.model.rnn_share=0.3"]).train.model.rnn_share == 0.3
    for bad in ("1.5", "-0.1", "half"):
        with pytest.raises(DoclstmError):
            load_params(None, [f"train.model.rnn_share={bad}"])
    plain = load_params(None).train.result_settings()
    assert load_params(None, ["train.model.rnn_share=0.25"]).train.result_settings() != plain
