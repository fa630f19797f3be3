"""The hierarchical model through the real stages: train, save, load, evaluate and score."""

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from doclstm.models.config import ModelConfig
from doclstm.models.model_folder import load_model_dir
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import run_stage, score_arguments
from tests.conftest import tiny_params

HIERARCHICAL = [
    "train.model.kind=hierarchical",
    "train.model.chunk_tokens=32",
    "train.model.chunk_stride=24",
    "train.model.max_chunks=3",  # 32 + 2 x 24 = 80 tokens read; the rest is counted
    "train.epochs=1",
]


def test_hierarchical_model_trains_evaluates_and_scores(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(built_workspace, workspace)
    params = tiny_params(workspace, small_corpus, *HIERARCHICAL)
    run_stage("train", params)
    loaded = load_model_dir(workspace / "models/main")
    assert loaded.model.config.kind == "hierarchical" and loaded.model.windows is not None
    run_stage("evaluate", params)
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    assert metrics["documents"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    test = load_split(workspace / "data/tokens", "test")
    assert metrics["documents_over_max_chunks"] == int((test.lengths > 80).sum()) > 0
    trained = StageManifest.load(workspace / "models/main").summary
    assert trained["train_documents_over_max_chunks"] > 0

    scoring = tiny_params(
        workspace, small_corpus, *HIERARCHICAL, f"score.model={workspace / 'models/main'}"
    )
    result = score_documents(**score_arguments(scoring).as_kwargs())
    rows = pq.read_table(result.out_dir).to_pylist()
    assert len(rows) == result.documents and all(r["predicted"] for r in rows)
    assert result.windowed == 0  # no state carrying: the windows are the model's own


def test_a_flat_config_from_before_hierarchical_still_loads() -> None:
    old = {"vocab_size": 10, "num_labels": 3, "cell": "gru", "pooling": "max"}
    config = ModelConfig.from_dict(old)
    assert config.kind == "flat" and ModelConfig.from_dict(config.to_dict()) == config
