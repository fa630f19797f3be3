"""Every score run writes a drift report: in-domain BBC News articles against the model's
training profile, and a clearly shifted archive (this project's own Python source)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from doclstm.scoring.shards import ScoreResult
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import score_arguments
from doclstm.text.histogram import length_histogram
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parents[2]


def _scored(workspace: Path, source: Path, out: Path) -> ScoreResult:
    """`source` scored into `out` with the workspace's model folder."""
    model, params = workspace / "models/main", [f"score.input={source}", f"score.output={out}"]
    settings = tiny_params(workspace, source, f"score.model={model}", *params)
    return score_documents(**score_arguments(settings).as_kwargs())


def _score(workspace: Path, source: Path, out: Path) -> dict:
    result = _scored(workspace, source, out)
    assert result.drift_report == result.out_dir / "_drift/drift.json"
    report = json.loads(result.drift_report.read_text())
    assert report["drifted"] == result.drifted and tuple(report["alerts"]) == result.drift_alerts
    assert (result.out_dir / "_drift/drift.png").stat().st_size > 10_000
    return {"report": report, "rows": pq.read_table(result.out_dir).to_pylist()}


def _psi(expected: dict, actual: dict) -> float:
    keys = expected.keys() | actual.keys()
    e = {k: max(expected.get(k, 0.0), 1e-4) for k in keys}
    a = {k: max(actual.get(k, 0.0), 1e-4) for k in keys}
    return sum((a[k] - e[k]) * math.log(a[k] / e[k]) for k in keys)


def test_a_shifted_archive_drifts_and_the_in_domain_one_does_not(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    profile = json.loads((built_workspace / "models/main/profile.json").read_text())
    code = tmp_path / "code"  # the project's Python modules: real text, not news
    code.mkdir()
    for path in sorted((ROOT / "doclstm").rglob("*.py"))[:60]:
        shutil.copyfile(path, code / f"{path.parent.name}_{path.stem}.txt")
    home = _score(built_workspace, small_corpus, tmp_path / "home")
    away = _score(built_workspace, code, tmp_path / "away")
    assert not home["report"]["drifted"] and home["report"]["alerts"] == []
    assert away["report"]["drifted"]
    alerts = " ".join(away["report"]["alerts"])
    assert "length_psi" in alerts and "label_psi" in alerts and "unknown_increase" in alerts

    # The PSIs by hand, from the rows written and the model folder's profile.
    window = 128  # TINY's tokenize.max_tokens
    trained_lengths = {k: v / profile["documents"] for k, v in profile["length_histogram"].items()}
    for run in (home, away):
        rows, scored = run["rows"], run["report"]["scored"]
        lengths = length_histogram(min(r["tokens"], window) for r in rows)
        length_shares = {k: v / len(rows) for k, v in lengths.items()}
        assert math.isclose(scored["length_psi"], _psi(trained_lengths, length_shares))
        labels = {name: 0 for name in profile["label_shares"]}
        for r in rows:
            labels[r["predicted"]] += 1
        predicted = {k: v / len(rows) for k, v in labels.items()}
        assert math.isclose(scored["label_psi"], _psi(profile["label_shares"], predicted))
        top = np.array([max(r["probabilities"]) for r in rows])
        assert scored["unsure_share"] == float((top < 0.6).mean())
    assert (
        home["report"]["scored"]["unknown_token_share"]
        < 0.02
        < (away["report"]["scored"]["unknown_token_share"])
    )


def test_a_resumed_run_reports_on_the_whole_folder_and_older_markers_score_again(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    first = _score(built_workspace, small_corpus, tmp_path / "out")
    folder = next((tmp_path / "out").glob("*/*"))
    markers = sorted((folder / "_done").glob("*.json"))
    assert len(markers) > 2
    record = json.loads(markers[1].read_text())
    record["code"] = "0" * 64  # as other scoring code (another doclstm) wrote it
    markers[1].write_text(json.dumps(record))
    markers[0].unlink()  # and a shard a killed run never finished
    again = _scored(built_workspace, small_corpus, tmp_path / "out")
    assert again.shards_skipped == again.shards - 2  # the two were scored again
    report = json.loads(again.drift_report.read_text())
    assert report["scored"]["documents"] == first["report"]["scored"]["documents"] == 300
    assert report["scored"]["length_psi"] == first["report"]["scored"]["length_psi"]
