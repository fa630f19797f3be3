"""What a user sees in the UIs, in a real headless Chromium: the MLflow UI on a
registered workspace, and the Great Expectations Data Docs with the network cut off.

Chromium comes from Debian's package (`apt-get install chromium`); where it is not
installed (CI) these tests skip. `DOCLSTM_UI_SCREENSHOTS=<folder>` keeps a screenshot
of every page opened.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from doclstm.config.tracking import TRAINING_VIEW, run_page
from tests.conftest import registered_fixture
from tests.local_servers import mlflow_server

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)"),
]
OFFLINE = "MAP * ~NOTFOUND"  # no name resolves: nothing can come from a network
LOOPBACK_ONLY = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def _browse(url: str, name: str, tmp_path: Path, resolver: str, wait_ms: int = 15_000) -> str:
    """The DOM of `url` after its scripts ran for `wait_ms` of virtual time; a screenshot
    of it kept under DOCLSTM_UI_SCREENSHOTS when set."""
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--host-resolver-rules={resolver}",
        f"--virtual-time-budget={wait_ms}",
        "--window-size=1400,1400",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]
    shots = os.environ.get("DOCLSTM_UI_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shot = f"--screenshot={Path(shots) / f'{name}.png'}"
        subprocess.run([CHROMIUM, *flags, shot, url], capture_output=True, timeout=180)
    proc = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


registered = registered_fixture("ui")


def test_the_data_docs_list_the_validations_with_their_styling_offline(
    registered: Path, tmp_path: Path
) -> None:
    docs = registered / "reports/validation/data_docs"
    # A copy of the index that writes what the browser computed into its title: the
    # table's border-collapse is Bootstrap's `collapse` only if Bootstrap's CSS loaded.
    probe = docs / "probe.html"
    probe.write_text(
        (docs / "index.html")
        .read_text()
        .replace(
            "</body>",
            "<script>window.addEventListener('load', () => setTimeout(() => {"
            "document.title = 'probe:' + getComputedStyle(document.querySelector('table'))"
            ".borderCollapse}, 2000));</script></body>",
        )
    )
    dom = _browse(probe.as_uri(), "data_docs_index", tmp_path, OFFLINE, wait_ms=5_000)
    probe.unlink()
    assert "<title>probe:collapse</title>" in dom
    # bootstrap-table fills the table from the page's data: its rows prove the scripts ran.
    assert 'data-index="0"' in dom and 'data-index="1"' in dom
    for suite in ("ingested_documents", "train_classes"):
        assert f"expectations/{suite}.html" in dom
    page = next((docs / "validations/ingested_documents").rglob("*.html"))
    shown = _browse(page.as_uri(), "data_docs_validation", tmp_path, OFFLINE, wait_ms=5_000)
    for column in ("has_the_text_of_a_train_document", "repeats_an_earlier_doc_id"):
        assert column in shown


def test_the_mlflow_ui_opens_on_training_runs_with_grouped_metrics_and_the_model_card(
    registered: Path, tmp_path: Path
) -> None:
    record = json.loads((registered / "reports/registration.json").read_text())
    trained = json.loads((registered / "models/main/manifest.json").read_text())
    run_name = f"main-{trained['fingerprint'][:6]}"
    with mlflow_server(tmp_path / "server", store=record["tracking_uri"]) as ui:
        experiment = f"{ui}/#/experiments/{record['experiment_id']}?{TRAINING_VIEW}"
        runs = _browse(experiment, "mlflow_experiment", tmp_path, LOOPBACK_ONLY)
        assert run_name in runs
        run = run_page(ui, record["experiment_id"], record["run_id"])
        overview = _browse(run, "mlflow_run", tmp_path, LOOPBACK_ONLY)
        assert f"{record['model_name']}: a" in overview  # the card, as the description
        charts = _browse(
            run.replace("?", "/model-metrics?"), "mlflow_metrics", tmp_path, LOOPBACK_ONLY
        )
        sections = dict(re.findall(r">([a-z_]+)</div><div[^>]*>\((\d+)\)<", charts))
        assert {"train", "val", "test", "test_precision"} <= set(sections), sections
        version = f"{ui}/#/models/{record['model_name']}/versions/1?{TRAINING_VIEW}"
        card = _browse(version, "mlflow_version", tmp_path, LOOPBACK_ONLY)
        assert "Gate decision" in card and "Limitations" in card
