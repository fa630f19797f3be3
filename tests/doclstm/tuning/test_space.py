"""The search space: read against the schema, refused in one line before any trial, and
every value it gives a valid setting; the tuned file, read back over its base file."""

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import DEFAULT_SPACE, load_params
from doclstm.errors import DoclstmError
from doclstm.tuning.space import SearchSpace, setting_value, with_settings
from doclstm.tuning.trial import shipped_value
from doclstm.tuning.tuned_file import Best, write_tuned

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space(entries: dict[str, Any], *extra: str) -> SearchSpace:
    return SearchSpace.of(load_params(None, [f"tune.space={json.dumps(entries)}", *extra]))


def test_the_shipped_space_reads_each_setting_s_kind_from_the_schema() -> None:
    space = SearchSpace.of(load_params(None))
    assert space.keys == list(DEFAULT_SPACE)
    kinds = {d.key: d.kind for d in space.dimensions}
    assert kinds["train.min_steps_per_epoch"] == "int"  # an int setting: int trials
    assert kinds["train.model.dropout"] == "float"
    assert kinds["train.model.pooling"] == kinds["train.model.hidden_size"] == "choice"
    # The shipped values lie in it: a new study's first trial is the base settings.
    assert space.defaults(load_params(None)) == {
        key: setting_value(load_params(None), key) for key in DEFAULT_SPACE
    }
    # ...and not when the base file's value is outside the space.
    assert space.defaults(load_params(None, ["train.model.hidden_size=100"])) is None


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"train.model.dropuot": {"low": 0.1, "high": 0.5}},
         "tune.space: train.model.dropuot: no such setting (did you mean train.model.dropout?)"),
        ({"train.lerning_rate": {"low": 0.001, "high": 0.01}},
         "(did you mean train.learning_rate?)"),
        ({"tokenize.max_tokens": {"choices": [256, 512]}}, "only train.* settings are searched"),
        ({"train.monitor": {"choices": ["val_accuracy"]}}, "not searched: trials are compared"),
        ({"train.model.dropout": {"low": 0.1, "high": 1.0}},
         "train.model.dropout: high 1.0 is out of bounds: Input should be less than 1"),
        ({"train.epochs": {"low": 0, "high": 5}},
         "train.epochs: low 0 is out of bounds: Input should be greater than or equal to 1"),
        ({"train.model.hidden_size": {"choices": [64, -8]}}, "choice -8 is out of bounds"),
        ({"train.model.pooling": {"choices": ["max", "median"]}}, "choice 'median' is out of"),
        ({"train.epochs": {"low": 2, "high": 6.5}}, "an int setting: low, high and step must"),
        ({"train.model.pooling": {"low": 1, "high": 2}}, "not a number: give choices"),
        ({"train.model.dropout": {"choices": [[0.1]]}}, "choices are plain values"),
    ],
)  # fmt: skip
def test_a_bad_space_is_one_line_naming_the_setting(entries: dict, message: str) -> None:
    with pytest.raises(DoclstmError) as err:
        _space(entries)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"low": 0.5, "high": 0.1}, "low 0.5 must be under high 0.1"),
        ({"low": 0.1}, "give choices: [...], or both low and high"),
        ({"low": 0, "high": 0.1, "log": True}, "a log scale needs low > 0"),
        ({"choices": [1], "low": 0.1, "high": 0.2}, "give choices, or low and high, not both"),
        ({"low": 0.1, "high": 0.5, "stpe": 0.1}, "Extra inputs are not permitted"),
    ],
)
def test_a_malformed_range_is_refused_as_the_params_are_read(
    entry: dict, message: str, tmp_path: Path
) -> None:
    given = tmp_path / "params.yaml"
    given.write_text(f"tune:\n  space:\n    train.model.dropout: {json.dumps(entry)}\n")
    with pytest.raises(DoclstmError) as err:
        load_params(given)
    assert f"{given}: tune.space.train.model.dropout" in str(err.value)
    assert message in str(err.value)


@settings(max_examples=25, deadline=None)
@given(
    low=st.floats(0.0, 0.9),
    width=st.floats(0.01, 0.5),
    steps=st.integers(1, 300),
    log=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_value_a_space_gives_is_within_it_and_a_valid_setting(
    low: float, width: float, steps: int, log: bool, seed: int
) -> None:
    high = min(low + width, 0.95)
    space = _space(
        {
            "train.model.dropout": {"low": low, "high": high},
            "train.learning_rate": {"low": 1e-4 + low / 100, "high": 0.1, "log": log},
            "train.min_steps_per_epoch": {"low": steps, "high": steps + 40, "log": log},
            "train.model.cell": {"choices": ["lstm", "gru"]},
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(3):
        values = space.suggest(study.ask())
        assert low <= values["train.model.dropout"] <= high
        assert steps <= values["train.min_steps_per_epoch"] <= steps + 40
        assert isinstance(values["train.min_steps_per_epoch"], int)
        assert all(d.holds(values[d.key]) for d in space.dimensions)
        params = with_settings(load_params(None), values)
        assert {key: setting_value(params, key) for key in values} == values


def test_a_combination_the_schema_refuses_is_the_trial_s_not_the_space_s() -> None:
    """Each value is valid alone: the space is accepted; the one pair that breaks a
    check across settings fails when a trial gets it (recorded, the search goes on)."""
    space = _space({"train.model.chunk_tokens": {"choices": [100, 200]}})
    assert space.keys == ["train.model.chunk_tokens"]
    with_settings(load_params(None), {"train.model.chunk_tokens": 200})
    with pytest.raises(ValueError, match="chunk_stride 150 is over chunk_tokens 100"):
        with_settings(load_params(None), {"train.model.chunk_tokens": 100})


def test_the_tuned_file_holds_only_changes_and_reads_back_over_its_base(tmp_path: Path) -> None:
    base_file = tmp_path / "base.yaml"
    base_file.write_text("train:\n  epochs: 4\n  model:\n    dropout: 0.2\n")
    base = load_params(base_file)
    best = {"train.model.dropout": 0.2, "train.learning_rate": 0.005, "train.model.cell": "gru"}
    output = tmp_path / "out" / "params.tuned.yaml"
    changed = write_tuned(
        output, base_file, base, Best("s1", 9, 4, 0.93, "val_macro_f1", best, 0.91)
    )
    assert changed == {"train.learning_rate": 0.005, "train.model.cell": "gru"}
    text = output.read_text()
    assert "extends: ../base.yaml" in text and "dropout" not in text
    assert "trial 4, val_macro_f1 0.9300 (the base settings, trial 0: 0.9100)" in text
    tuned = load_params(output)
    assert tuned == with_settings(base, best)  # the base file's epochs kept
    assert tuned.train.epochs == 4


def test_extends_refuses_a_loop_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(DoclstmError, match="extend each other in a loop"):
        load_params(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: gone.yaml\n")
    with pytest.raises(DoclstmError, match=r"gone.yaml: params file not found \(extended by"):
        load_params(tmp_path / "c.yaml")


def test_a_trial_is_judged_by_the_val_figure_of_the_model_train_ships() -> None:
    """With a token bag, the blend at the share training picked (the epochs' curve is the
    RNN's alone); without one, the best epoch's."""
    history = [
        {"val_macro_f1": 0.70, "val_accuracy": 0.71},
        {"val_macro_f1": 0.74, "val_accuracy": 0.75},
    ]
    bagless = {"best_epoch": 2, "bag": None}
    assert shipped_value(bagless, history, "val_macro_f1") == 0.74
    bag = {"rnn_share": 0.1, "val_macro_f1_by_rnn_share": {"0": 0.76, "0.1": 0.78, "0.5": 0.75},
           "val_accuracy_by_rnn_share": {"0": 0.77, "0.1": 0.79, "0.5": 0.74}}  # fmt: skip
    blended = {"best_epoch": 2, "bag": bag}
    assert shipped_value(blended, history, "val_macro_f1") == 0.78
    assert shipped_value(blended, history, "val_accuracy") == 0.79
