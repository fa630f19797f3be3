import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from doclstm.errors import DoclstmError
from doclstm.storage.fingerprint import sha256_file
from doclstm.storage.manifest import StageManifest
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import run_stage, score_arguments
from tests.conftest import TINY, registered_fixture, tiny_params

registered = registered_fixture("registered")


def test_register_creates_a_challenger_with_lineage_and_is_idempotent(
    registered: Path, small_corpus: Path
) -> None:
    record = json.loads((registered / "reports/registration.json").read_text())
    assert (record["version"], record["aliases"]) == ("1", ["challenger"])  # the gate decides
    client = MlflowClient(record["tracking_uri"])
    run = client.get_run(record["run_id"])
    # Named after train.run_name, opened by the UI on its training runs (not GenAI traces).
    trained = StageManifest.load(registered / "models/main")
    assert run.info.run_name == f"main-{trained.fingerprint[:6]}"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    tokens = registered / "data/tokens"
    assert run.data.tags["data.tokens.manifest_sha256"] == sha256_file(tokens / "manifest.json")
    assert run.data.tags["data.tokens.fingerprint"] == StageManifest.load(tokens).fingerprint
    assert run.data.tags["data.dvc"] == "not run by dvc" and run.data.tags["git_commit"]
    assert run.data.params["train.model.cell"] == "lstm"
    # A list setting reads as JSON in MLflow, not as Python's repr of it.
    assert [s["path"] for s in json.loads(run.data.params["ingest.source"])] == [str(small_corpus)]
    # Trained from scratch: no encoder to name.
    assert not [tag for tag in run.data.tags if tag.startswith("pretrain.")]
    assert "pretrain/val_perplexity" not in run.data.metrics
    version = MlflowClient(record["tracking_uri"]).get_model_version(
        record["model_name"], record["version"]
    )
    assert version.tags["pretrained_encoder"] == "none"
    assert {"test/roc_auc", "test/accuracy_ci95_low", "test/expected_calibration_error"} <= set(
        run.data.metrics
    )
    # Every figure in a section of MLflow's UI: the learning curves, the test metrics.
    assert {k.split("/")[0] for k in run.data.metrics} >= {"train", "val", "test", "test_f1"}
    assert all("/" in k for k in run.data.metrics), sorted(run.data.metrics)
    assert run.data.metrics["test/accuracy"] == pytest.approx(
        json.loads((registered / "reports/metrics.json").read_text())["accuracy"]
    )
    logged = {
        a.path
        for folder in ("tokenizer", "reports", "plots", "train")
        for a in MlflowClient(record["tracking_uri"]).list_artifacts(record["run_id"], folder)
    }
    assert {
        "tokenizer/tokenizer.json",
        "reports/test_predictions.parquet",
        "plots/roc.png",
    } <= logged
    assert "model_card.md" in {a.path for a in client.list_artifacts(record["run_id"])}
    again = run_stage("register", tiny_params(registered, small_corpus))
    assert (again.cached, again.version) == (True, "1")
    gate = run_stage("gate", tiny_params(registered, small_corpus))
    assert (gate.cached, gate.decision, gate.champion) == (True, "promoted", "1")


def test_the_version_carries_a_model_card_with_the_gate_decision_and_the_run_its_datasets(
    registered: Path,
) -> None:
    record = json.loads((registered / "reports/registration.json").read_text())
    metrics = json.loads((registered / "reports/metrics.json").read_text())
    client = MlflowClient(record["tracking_uri"])
    card = client.get_model_version(record["model_name"], "1").description
    low, high = metrics["intervals_95"]["accuracy"]
    assert f"| accuracy | {metrics['accuracy']:.4f} | {low:.4f} - {high:.4f} |" in card
    for section in ("## Data", "## Settings", "## Lineage", "## Limitations"):
        assert section in card
    # The gate's decision replaced the card's last section, under its heading.
    decision = card.split("## Gate decision", 1)[1]
    assert "version 1: promoted" in decision and "Not judged yet" not in decision
    run = client.get_run(record["run_id"])
    assert run.data.tags["mlflow.note.content"].startswith(card.split("## Gate decision")[0])
    fingerprint = StageManifest.load(registered / "data/tokens").fingerprint
    inputs = {
        {t.key: t.value for t in d.tags}["mlflow.data.context"]: d.dataset
        for d in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "validation", "testing"}
    assert inputs["training"].digest == fingerprint[:36]
    test_rows = pq.read_metadata(registered / "reports/test_predictions.parquet").num_rows
    assert json.loads(inputs["testing"].profile)["num_rows"] == test_rows


def test_pyfunc_loads_by_registry_uri_in_a_fresh_process_and_predicts_raw_text(
    registered: Path,
) -> None:
    uri = json.loads((registered / "reports/registration.json").read_text())["tracking_uri"]
    code = f"""
import json, mlflow, pandas as pd
mlflow.set_tracking_uri({uri!r})
for ref in ("models:/doclstm-bbcnews/1", "models:/doclstm-bbcnews@challenger"):
    model = mlflow.pyfunc.load_model(ref)
    texts = ["The striker scored twice.", "Shares fell 5%.", "  "]
    out = model.predict(pd.DataFrame({{"text": texts}}))
    print(out.to_json(orient="columns"))  # JSON null where the pyfunc left NaN or None
    print(model.predict(["Parliament voted on the bill."]).to_json(orient="columns"))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=registered
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [
        {column: list(rows.values()) for column, rows in json.loads(line).items()}
        for line in proc.stdout.splitlines()
        if line.startswith("{")
    ]
    assert len(lines) == 4
    labels = {"business", "entertainment", "politics", "sports", "tech"}
    for out in lines:
        assert set(out) == {"predicted", "confidence", "reason", *(f"prob_{n}" for n in labels)}
        scored = [i for i, reason in enumerate(out["reason"]) if reason is None]
        assert {out["predicted"][i] for i in scored} <= labels
        for i in scored:
            probs = {n: out[f"prob_{n}"][i] for n in labels}
            assert abs(sum(probs.values()) - 1) < 1e-4
            assert out["confidence"][i] == max(probs.values())
            assert out["predicted"][i] == max(probs, key=probs.__getitem__)
    # An empty text is not scored, as `doclstm score` does not score it.
    assert (lines[0]["predicted"][2], lines[0]["reason"][2]) == (None, "empty document")
    assert lines[0] == lines[2]  # version 1 is the challenger


def test_scoring_covers_every_document_once_and_resumes(
    registered: Path, small_corpus: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    (corpus / "tech" / "blank.txt").write_text("   \n")
    expected = sorted(p.relative_to(corpus).as_posix() for p in corpus.glob("*/*.txt"))
    params = tiny_params(
        registered,
        corpus,
        "score.model=models:/doclstm-bbcnews@champion",
        f"score.output={tmp_path / 'out'}",
    )
    first = score_documents(**score_arguments(params).as_kwargs())
    assert (first.documents, first.shards, first.shards_skipped, first.unscored) == (
        len(expected),
        5,
        0,
        1,
    )
    out = tmp_path / "out/doclstm-bbcnews/1"
    assert first.out_dir == out
    rows = pq.read_table(out).to_pylist()
    assert sorted(r["doc_id"] for r in rows) == expected
    blank = next(r for r in rows if r["doc_id"] == "tech/blank.txt")
    assert (blank["predicted"], blank["confidence"], blank["reason"]) == (
        None,
        None,
        "empty document",
    )
    scored = [r for r in rows if r["predicted"] is not None]
    assert all(r["model_version"] == "1" and len(r["probabilities"]) == 5 for r in scored)
    labels = json.loads((out / "_done/part-00000.json").read_text())["labels"]
    for r in scored:  # the named columns are the list's, in the marker's label order
        assert [r[f"prob_{name}"] for name in labels] == r["probabilities"]
        assert (r["predicted"], r["confidence"]) == max(
            zip(labels, r["probabilities"], strict=True), key=lambda kv: kv[1]
        )

    # A crash after shard 2 was written but before its marker: only shard 2 is redone.
    (out / "_done/part-00002.json").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    resumed = score_documents(**score_arguments(params).as_kwargs())
    assert (resumed.shards_skipped, resumed.documents) == (4, len(expected))
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    assert [n for n in before if before[n] != after[n]] == ["part-00002.parquet"]
    again = pq.read_table(out).to_pylist()
    key = lambda r: r["doc_id"]  # noqa: E731
    assert [(r["doc_id"], r["predicted"]) for r in sorted(again, key=key)] == [
        (r["doc_id"], r["predicted"]) for r in sorted(rows, key=key)
    ]


def test_each_model_version_scores_into_its_own_folder(
    registered: Path, small_corpus: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    base = [f"score.output={tmp_path}"]
    client = MlflowClient(score_arguments(tiny_params(registered, small_corpus)).tracking)
    run_id = client.get_model_version("doclstm-bbcnews", "1").run_id
    points = len(client.get_metric_history(run_id, "drift/length_psi"))  # earlier runs'
    registry = score_documents(
        **score_arguments(
            tiny_params(registered, small_corpus, "score.model=models:/doclstm-bbcnews/1", *base)
        ).as_kwargs()
    )
    local = tiny_params(
        registered, small_corpus, f"score.model={registered / 'models/main'}", *base
    )
    folder = score_documents(**score_arguments(local).as_kwargs())
    assert registry.out_dir == tmp_path / "doclstm-bbcnews/1"
    assert folder.out_dir.parent == tmp_path / "main" and folder.shards_skipped == 0
    assert pq.read_table(registry.out_dir).num_rows == pq.read_table(folder.out_dir).num_rows
    # The registry version's drift measures go onto its MLflow run, a point per score run;
    # a model folder has no run (the second score added none).
    psi = client.get_metric_history(run_id, "drift/length_psi")
    report = json.loads(registry.drift_report.read_text())
    assert len(psi) == points + 1
    assert max(psi, key=lambda m: m.step).value == report["scored"]["length_psi"]
    # The registered copy carries the training profile that drift is measured against.
    cached = registered / "data/model_cache/doclstm-bbcnews/1"
    assert (cached / "profile.json").read_bytes() == (
        registered / "models/main/profile.json"
    ).read_bytes()

    # A folder whose markers name another model (copied or moved) is refused, not mixed.
    shutil.rmtree(folder.out_dir)
    shutil.copytree(registry.out_dir, folder.out_dir)
    with pytest.raises(DoclstmError, match="was it copied or moved"):
        score_documents(**score_arguments(local).as_kwargs())
    forced = score_documents(**score_arguments(local, force=True).as_kwargs())
    assert forced.shards_skipped == 0 and forced.model_version.startswith("local-")


def test_mlflow_s_answer_is_kept_while_the_store_is_unchanged_and_used_without_mlflow(
    registered: Path, small_corpus: Path
) -> None:
    from doclstm.scoring.model_ref import kept_answer, resolve_model

    arguments = score_arguments(tiny_params(registered, small_corpus))
    tracking, cache = arguments.tracking, arguments.model_cache
    client = MlflowClient(tracking)
    client.set_registered_model_tag("doclstm-bbcnews", "touched", "yes")  # a write before
    by_client = resolve_model("models:/doclstm-bbcnews@champion", tracking, cache)  # kept now
    champion = client.get_model_version_by_alias("doclstm-bbcnews", "champion")
    assert by_client.version == str(champion.version)
    by_number = resolve_model(f"models:/doclstm-bbcnews/{champion.version}", tracking, cache)
    for body in ("doclstm-bbcnews@champion", f"doclstm-bbcnews/{champion.version}"):
        assert kept_answer(body, tracking, cache) == by_client == by_number
    for unknown in ("doclstm-bbcnews@nobody", "doclstm-bbcnews/99", "other@champion"):
        assert kept_answer(unknown, tracking, cache) is None
    assert kept_answer("doclstm-bbcnews@champion", "http://127.0.0.1:1", cache) is None
    code = f"""
import sys
from pathlib import Path
from doclstm.scoring.model_ref import resolve_model
found = resolve_model("models:/doclstm-bbcnews@champion", {tracking!r}, Path({str(cache)!r}))
print(found.version, "mlflow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [by_client.version, "False"]
    # Any write to the store (here a tag; a moved alias alike) voids the kept answers.
    client.set_registered_model_tag("doclstm-bbcnews", "touched", "again")
    assert kept_answer("doclstm-bbcnews@champion", tracking, cache) is None
    assert resolve_model("models:/doclstm-bbcnews@champion", tracking, cache) == by_client
    assert kept_answer("doclstm-bbcnews@champion", tracking, cache) == by_client


def test_the_command_line_logs_drift_metrics_from_a_detached_process(
    registered: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """`doclstm score` returns without importing MLflow; a child logs the drift point on
    the version's run, says how it went, and keeps MLflow's answer for the next lookup."""
    from doclstm.scoring.drift_logger import wait_for_outcome
    from doclstm.scoring.model_ref import kept_answer

    arguments = score_arguments(tiny_params(registered, small_corpus))
    client = MlflowClient(arguments.tracking)
    run_id = client.get_model_version("doclstm-bbcnews", "1").run_id
    points = len(client.get_metric_history(run_id, "drift/length_psi"))
    sets = [arg for item in (f"base.workspace={registered}", *TINY) for arg in ("--set", item)]
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "doclstm.cli",
        "score",
        "--model",
        "models:/doclstm-bbcnews/1",
        "--input",
        str(small_corpus),
        "--output",
        str(out),
    ]
    done = subprocess.run([*command, *sets], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = out / "doclstm-bbcnews/1/_drift/drift.json"
    assert wait_for_outcome(report, timeout=120) == {"logged": True, "error": None}
    psi = client.get_metric_history(run_id, "drift/length_psi")
    assert len(psi) == points + 1
    scored = json.loads(report.read_text())["scored"]
    assert max(psi, key=lambda m: m.step).value == scored["length_psi"]
    kept = kept_answer("doclstm-bbcnews/1", arguments.tracking, arguments.model_cache)
    assert kept is not None and kept.version == "1"
