"""The stage table agrees with the stage modules: each row names a function that takes
exactly its arguments record's fields, writes what the record says it writes, and runs
as a Prefect task of the same name with the row's retries and tags."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

from doclstm.config.params import load_params
from doclstm.errors import DoclstmError
from doclstm.tasks.table import STAGES, TRAINING_STAGES, Stage, stage


@pytest.mark.parametrize("row", STAGES, ids=lambda row: row.name)
def test_a_row_s_arguments_are_its_function_s_parameters(row: Stage) -> None:
    record = row.arguments(load_params(None, []))
    parameters = inspect.signature(row.load()).parameters
    names = [f.name for f in fields(record)]
    required = [n for n, p in parameters.items() if p.default is inspect.Parameter.empty]
    assert set(required) <= set(names) <= set(parameters), (names, list(parameters))
    assert set(record.outputs()) <= set(record.paths())
    assert row.code()[0].startswith("doclstm/") and f"doclstm/tasks/{row.name}.py" in row.code()


def test_the_training_stages_run_in_pipeline_order_and_score_stands_apart() -> None:
    assert [row.name for row in TRAINING_STAGES] == [
        "ingest", "validate", "tokenize", "pretrain", "teacher", "train", "evaluate",
        "register", "gate",
    ]  # fmt: skip
    assert [row.name for row in STAGES if not row.training] == ["score"]


def test_an_unknown_stage_is_refused_with_the_closest_name() -> None:
    with pytest.raises(DoclstmError, match="did you mean 'train'"):
        stage("trian")


def test_each_row_s_prefect_task_carries_its_name_retries_and_tags() -> None:
    from doclstm.flows.stage_tasks import stage_task

    for row in STAGES:
        made = stage_task(row.name)
        assert made.name == row.name and made.fn is row.load()
        assert (made.retries > 0) == row.retries and set(made.tags) == set(row.tags)
