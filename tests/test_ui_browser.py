"""What a user sees in the UIs, in a real headless Chromium: the MLflow UI on a
registered workspace, the Great Expectations Data Docs and the evaluation report with
the network cut off, and the Prefect UI on the flow runs of `doclstm run`.

Chromium comes from Debian's package (`apt-get install chromium`), which .ci/run
installs when it is missing and then requires (`DOCLSTM_BROWSER_REQUIRED=1`: no
browser fails these tests); elsewhere, without one, they skip.
`DOCLSTM_UI_SCREENSHOTS=<folder>` keeps a screenshot of every page opened (.ci/run:
ui-screenshots/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from doclstm.config.tracking import TRAINING_VIEW, run_page
from doclstm.tasks.table import TRAINING_STAGES
from tests.conftest import TINY, registered_fixture
from tests.local_servers import mlflow_server, prefect_env, prefect_server

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
# .ci/run installs Chromium and sets this: there, a missing browser fails rather than skips.
REQUIRED = os.environ.get("DOCLSTM_BROWSER_REQUIRED") == "1"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and not REQUIRED, reason="no Chromium (apt-get install chromium)"
    ),
]
OFFLINE = "MAP * ~NOTFOUND"  # no name resolves: nothing can come from a network
LOOPBACK_ONLY = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
TRAINING_ORDER = tuple(stage.name for stage in TRAINING_STAGES)


def _browse(url: str, name: str, tmp_path: Path, resolver: str, wait_ms: int = 15_000) -> str:
    """The DOM of `url` after its scripts ran for `wait_ms` of virtual time; a screenshot
    of it kept under DOCLSTM_UI_SCREENSHOTS when set."""
    assert CHROMIUM is not None, "DOCLSTM_BROWSER_REQUIRED=1 and no Chromium on PATH"
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


def test_the_prefect_ui_shows_the_run_of_doclstm_run_with_its_stages(
    registered: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """`doclstm run` against a Prefect server with its UI: the flow run's page names the
    flow and its state, and its task runs are the stages."""
    import httpx

    settings = [f"base.workspace={registered}", f"ingest.source={small_corpus}"]
    settings += [f"score.input={small_corpus}", *TINY]
    with prefect_server(tmp_path / "prefect", ui=True) as api:
        env = prefect_env(tmp_path / "prefect", api_url=api)
        command = [sys.executable, "-m", "doclstm.cli", "run"]
        command += [arg for setting in settings for arg in ("--set", setting)]
        done = subprocess.run(
            command, cwd=registered, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}).json()}
        runs = httpx.post(f"{api}/flow_runs/filter", json={"limit": 10}).json()
        by_flow = {flows[r["flow_id"]]: r for r in runs}
        assert {r["state_type"] for r in runs} == {"COMPLETED"}
        training = by_flow["train_pipeline"]  # a subflow of pipeline_then_score
        tasks = httpx.post(
            f"{api}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [training["id"]]}}, "limit": 200},
        ).json()
        stages = [
            name for name in TRAINING_ORDER if any(t["name"].startswith(f"{name}-") for t in tasks)
        ]
        assert stages == list(TRAINING_ORDER)
        ui = api.removesuffix("/api")
        page = _browse(
            f"{ui}/runs/flow-run/{training['id']}",
            "prefect_train_pipeline",
            tmp_path,
            LOOPBACK_ONLY,
        )
        # the run's page: its name, state, and each stage's task run in its log
        assert training["name"] in page and "Completed" in page
        shown = set(re.findall(r"<div>([a-z_]+)-[0-9a-f]{3}</div>", page))  # a log row's task
        assert set(TRAINING_ORDER) <= shown, shown
        outer = _browse(
            f"{ui}/runs/flow-run/{by_flow['pipeline_then_score']['id']}",
            "prefect_pipeline_then_score",
            tmp_path,
            LOOPBACK_ONLY,
        )
        assert "pipeline_then_score" in outer and "Completed" in outer


def test_the_evaluation_report_opens_offline_with_its_plots(
    registered: Path, tmp_path: Path
) -> None:
    report = registered / "reports/evaluation.html"
    # A copy that writes into its title how many of its images the browser decoded.
    probe = report.with_name("probe.html")
    probe.write_text(
        report.read_text().replace(
            "</body>",
            "<script>window.addEventListener('load', () => { const images = "
            "[...document.images]; document.title = 'probe:' + images.length + ':' + "
            "images.filter(i => i.complete && i.naturalWidth > 0).length; });</script></body>",
        )
    )
    dom = _browse(probe.as_uri(), "evaluation_report", tmp_path, OFFLINE, wait_ms=3_000)
    probe.unlink()
    found = re.search(r"<title>probe:(\d+):(\d+)</title>", dom)
    assert found and int(found.group(1)) >= 4 and found.group(1) == found.group(2), found
    metrics = json.loads((registered / "reports/metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in dom and "confusion" in dom.lower()
