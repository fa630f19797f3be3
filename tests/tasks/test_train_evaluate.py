import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from doclstm.models.model_folder import load_model_dir
from doclstm.scoring.predictor import TextPredictor
from doclstm.storage.fingerprint import sha256_file
from doclstm.tasks.table import run_stage
from tests.conftest import tiny_params


def test_model_folder_rebuilds_and_predicts_raw_text(built_workspace: Path) -> None:
    model_dir = built_workspace / "models/main"
    assert not list(model_dir.glob("*.pt")) and not list(model_dir.glob("*.pkl"))
    loaded = load_model_dir(model_dir)
    assert loaded.labels == ["business", "entertainment", "politics", "sports", "tech"]
    probs = TextPredictor(loaded).predict(["Chelsea won the cup final.", "", "Profits fell."])
    assert probs.shape == (3, 5)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    history = json.loads((model_dir / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["tokens_per_second"] > 0 and 0 <= r["padding_waste"] < 1 for r in history)


def test_evaluation_reports_metrics_plots_and_predictions(built_workspace: Path) -> None:
    reports = built_workspace / "reports"
    metrics = json.loads((reports / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
    assert set(metrics["per_class"]) == {"business", "entertainment", "politics", "sports", "tech"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["documents"]
    assert sum(r["documents"] for r in metrics["accuracy_by_length"]) == metrics["documents"]
    for name in (
        "confusion_matrix",
        "roc",
        "precision_recall",
        "reliability",
        "accuracy_by_length",
    ):
        assert (reports / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    predictions = pq.read_table(reports / "test_predictions.parquet")
    assert predictions.num_rows == metrics["documents"]
    truth = np.asarray(predictions["label_id"].to_pylist())
    probs = np.asarray(predictions["probabilities"].to_pylist())
    assert np.mean(truth == probs.argmax(1)) == metrics["accuracy"]
    # The columns `doclstm score` writes, with the truth as `label`.
    labels = json.loads(predictions.schema.metadata[b"labels"])
    assert predictions["label"].to_pylist() == [labels[i] for i in truth]
    assert predictions["predicted"].to_pylist() == [labels[i] for i in probs.argmax(1)]
    named = np.asarray([predictions[f"prob_{name}"].to_pylist() for name in labels]).T
    assert np.array_equal(named, probs) and np.array_equal(
        np.asarray(predictions["confidence"].to_pylist()), probs.max(1)
    )
    # Every figure of metrics.json can be recomputed from the saved predictions.
    from sklearn.metrics import log_loss, roc_auc_score

    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(truth, probs, multi_class="ovr"))
    # float32 rows sum to 1 only to about 1e-7, which scikit-learn warns about
    rows = probs / probs.sum(axis=1, keepdims=True)
    assert metrics["log_loss"] == pytest.approx(log_loss(truth, rows), rel=1e-4)
    low, high = metrics["intervals_95"]["accuracy"]
    assert low <= metrics["accuracy"] <= high
    assert sum(b["documents"] for b in metrics["calibration_bins"]) == metrics["documents"]
    assert 0 <= metrics["expected_calibration_error"] <= 1
    # The page of it all: the headline with intervals, a row a class, the surest mistakes
    # (those of the saved predictions, by confidence), and the plots inside the page.
    page = (reports / "evaluation.html").read_text(encoding="utf-8")
    assert f"<td>accuracy</td><td>{metrics['accuracy']:.4f}</td><td>{low:.4f} to " in page
    assert all(f"<tr><td>{label}</td>" in page for label in labels)
    wrong = predictions.filter(pc.not_equal(predictions["label"], predictions["predicted"]))
    surest = sorted(wrong.to_pylist(), key=lambda r: -r["confidence"])[:10]
    assert f"The {len(surest)} mistakes the model was surest of" in page
    assert all(
        f"<tr><td>{r['doc_id']}</td><td class=name>{r['label']}</td>" in page for r in surest
    )
    assert page.count("src='data:image/png;base64,") == 5
    assert (
        "evaluation.html" in json.loads((reports / "evaluate.manifest.json").read_text())["files"]
    )


def test_same_seed_same_weights_and_metrics_on_cpu(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    params = tiny_params(tmp_path, small_corpus)
    for name in ("ingest", "validate", "tokenize", "train", "evaluate"):
        run_stage(name, params)
    ours, theirs = tmp_path / "models/main", built_workspace / "models/main"
    assert sha256_file(ours / "model.safetensors") == sha256_file(theirs / "model.safetensors")
    assert (tmp_path / "reports/metrics.json").read_text() == (
        built_workspace / "reports/metrics.json"
    ).read_text()


def test_train_is_reused_when_nothing_changed_and_rerun_when_a_param_does(
    small_corpus: Path, tmp_path: Path
) -> None:
    params = tiny_params(tmp_path, small_corpus, "train.epochs=1")
    for name in ("ingest", "validate", "tokenize"):
        run_stage(name, params)
    first = run_stage("train", params)
    again = run_stage("train", params)
    changed = run_stage(
        "train", tiny_params(tmp_path, small_corpus, "train.epochs=1", "train.learning_rate=0.01")
    )
    assert (first.cached, again.cached, changed.cached) == (False, True, False)


def test_the_token_bag_is_fitted_its_share_picked_and_refitted_on_train_and_val(
    built_workspace: Path,
) -> None:
    """The shipped classifier's bag, through the train stage: fitted at a C picked on val,
    frozen while the RNN trains, its share picked on val, refitted on train + val; the
    model folder brings all of it back (weights, idf, word tables, shares)."""
    from doclstm.storage.manifest import StageManifest
    from doclstm.storage.token_data import load_split
    from doclstm.training.bag_fit import C_GRID, RNN_SHARES

    model_dir = built_workspace / "models/main"
    summary = StageManifest.load(model_dir).summary
    bag = summary["bag"]
    assert bag["c"] in C_GRID and bag["rnn_share"] in RNN_SHARES
    tokens = built_workspace / "data/tokens"
    assert bag["refit_documents"] == len(load_split(tokens, "train")) + len(
        load_split(tokens, "val")
    )
    model = load_model_dir(model_dir).model
    assert model.bag is not None and model.bag.idf.max() > 0
    assert not bool(model.bag.starts.all())  # the tokenizer's words, not one per token
    share = bag["rnn_share"]
    torch.testing.assert_close(model.expert_weights, torch.tensor([share, 1 - share]))
    # The epochs were judged by the RNN alone: its val accuracy is the best epoch's record.
    from doclstm.models.inference import predict_probabilities

    val = load_split(tokens, "val")
    model.expert_weights.copy_(torch.tensor([1.0, 0.0]))
    rnn_alone = predict_probabilities(model, val.sequences, 4096).argmax(1) == val.label_ids
    history = json.loads((model_dir / "history.json").read_text())
    assert float(rnn_alone.mean()) == pytest.approx(
        history[summary["best_epoch"] - 1]["val_accuracy"]
    )


def test_a_model_retrained_from_the_same_settings_is_evaluated_again(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """Other weights under the same training fingerprint (other code, same settings): the
    evaluation is not the old model's."""
    from safetensors.torch import load_file, save_file

    from doclstm.storage.manifest import StageManifest, file_entry

    shutil.copytree(built_workspace, tmp_path, dirs_exist_ok=True)
    params = tiny_params(tmp_path, small_corpus)
    assert run_stage("evaluate", params).cached
    model_dir = tmp_path / "models/main"
    weights = load_file(model_dir / "model.safetensors")
    weights["head.bias"] = weights["head.bias"] + 5.0 * torch.arange(len(weights["head.bias"]))
    save_file(weights, model_dir / "model.safetensors")
    manifest = StageManifest.load(model_dir)
    manifest.files["model.safetensors"] = file_entry(model_dir / "model.safetensors")
    manifest.write(model_dir)
    again = run_stage("evaluate", params)
    assert not again.cached
