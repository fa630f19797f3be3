"""MLflow locations: a SQLite store and artifact folder under the workspace by default."""

from __future__ import annotations

import json
import re
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The MLflow tags a stage finds its run again by: the fingerprint of what it holds.
TRAIN_FINGERPRINT_TAG = "doclstm.train_fingerprint"  # a training's run, found on resume
REGISTER_FINGERPRINT_TAG = "doclstm.fingerprint"  # the run and version `register` wrote
# The trainer's per-epoch figures that have no split in their name.
TRAIN_FIGURES = ("tokens_per_second", "padding_waste", "learning_rate", "seconds")


@dataclass(frozen=True)
class TrackingTarget:
    """Where a training logs: the MLflow store, the experiment, and where a new
    experiment's artifacts go (None: the tracking server's own default)."""

    uri: str
    experiment: str
    artifact_location: str | None
    # Tags a training's new run gets, and that its unfinished run is found again by (a
    # tune trial's: its study's run as parent, and its settings' key).
    run_tags: tuple[tuple[str, str], ...] = ()


def tracking_target(configured_uri: str, experiment: str, mlflow_dir: Path) -> TrackingTarget:
    """A configured server keeps its artifact root; the default SQLite store puts
    artifacts beside it under the workspace."""
    if configured_uri:
        return TrackingTarget(configured_uri, experiment, None)
    artifacts = (mlflow_dir / "artifacts").resolve().as_uri()
    return TrackingTarget(tracking_uri(configured_uri, mlflow_dir), experiment, artifacts)


def tracking_uri(configured: str, mlflow_dir: Path) -> str:
    if configured:
        return configured
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(mlflow_dir / 'mlflow.db').resolve()}"


# MLflow's advice that does not fit doclstm's models, printed at register unless
# silenced: the datasets' token counts are never missing, and their source is a plain
# path that two of MLflow's own source classes claim alike.
MLFLOW_HINTS = (
    "Hint: Inferred schema contains integer column(s)",
    "The specified dataset source can be interpreted in multiple ways",
)


@contextmanager
def mlflow_hints_silenced() -> Iterator[None]:
    """Within the block, MLflow's MLFLOW_HINTS are not shown; every other warning is."""
    with warnings.catch_warnings():
        for hint in MLFLOW_HINTS:  # MLflow colours some, so the text may not come first
            warnings.filterwarnings("ignore", f".*{re.escape(hint)}", UserWarning)
        yield


def registered_models_hint(client: Any, name: str) -> str:
    """What to add to "`name` is not registered" from `client` (an MlflowClient): the
    names that are, since a run with another register.model_name is the usual reason."""
    from mlflow.exceptions import MlflowException

    try:
        names = sorted(m.name for m in client.search_registered_models())
    except MlflowException:
        return ""
    if name in names:
        return ""
    if not names:
        return "; nothing is registered in this store yet (`doclstm run` registers a model)"
    return f"; registered here: {', '.join(names)} (set register.model_name to one of them)"


# MLflow 3's UI opens an experiment in its GenAI view unless told otherwise, whatever the
# experiment's kind tag says; links doclstm prints ask for the model-training view.
TRAINING_VIEW = "workflowType=machine_learning"


def run_page(ui: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI page of a run, in the model-training view."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_VIEW}"


def metric_name(key: str) -> str:
    """The MLflow name of a history or evaluation figure: `<group>/<figure>`, so MLflow's
    UI shows one section a group (`train/loss`, `val/macro_f1`, `test/accuracy`,
    `test_f1/<class>`) instead of one flat list."""
    for split in ("train", "val", "test", "pretrain"):
        if key.startswith(f"{split}_"):
            return f"{split}/{key.removeprefix(f'{split}_')}"
    return f"train/{key}" if key in TRAIN_FIGURES else key


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"model": {"cell": "lstm"}}} -> {"train.model.cell": "lstm"}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


PARAM_CHARS = 500  # of a logged param value: what MLflow's stores all keep


def param_text(value: Any) -> str:
    """A setting as MLflow shows it: a list or mapping (an ingest source) as JSON, not
    Python's repr; anything else as its string."""
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text[:PARAM_CHARS]


def log_params(client: Any, run_id: str, values: Mapping[str, Any]) -> None:
    """`values` (flat) as the run's params, in one request per hundred (MLflow's batch
    limit, which its client splits by) instead of one request a param."""
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(k, param_text(v)) for k, v in values.items()])


def log_metrics(client: Any, run_id: str, values: Mapping[str, float], step: int = 0) -> None:
    """`values` as the run's metrics at `step`, stamped now, in one request."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
    client.log_batch(run_id, metrics=metrics)


def git_commit(cwd: Path) -> str:
    """The checked-out commit (with '-dirty' if the tree has changes), or 'unknown'."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
