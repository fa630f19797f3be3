"""One scoring job: a source, a model version and its output folder, locked while scored.

`score_job` resolves the model (downloading a registry version once into the model
cache) and the output folder, `<score.output>/<model name>/<version>/`, so a retrained
model never collides with what an earlier version wrote, and holds the folder's OS lock
for the block: a second scorer of the same folder, from any workspace or machine that
shares it, waits `score.lock_wait_seconds` and then fails naming the holder, instead
of writing the same shards again. `predictor` gives each process one loaded copy of the
model, shared by every shard it scores.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from doclstm.config.params import ScoreParams
from doclstm.errors import DoclstmError
from doclstm.models.device import pick_device, warn_if_bf16_is_emulated
from doclstm.models.model_folder import MODEL_FILES, LoadedModel, load_model_dir
from doclstm.scoring.model_ref import resolve_model
from doclstm.scoring.predictor import TextPredictor
from doclstm.sources.resolve import ResolvedSource, resolve_source
from doclstm.storage.file_lock import exclusive_lock

OUTPUT_LOCK = ".score.lock"  # dot names are skipped by Arrow and Spark readers
LOCK_SETTING = "score.lock_wait_seconds"


@dataclass(frozen=True)
class ScoreJob:
    """Everything a process needs to score shards of one source with one model."""

    params: ScoreParams
    source: ResolvedSource
    model_dir: Path
    model_name: str
    model_version: str
    out_dir: Path
    tracking: str  # the MLflow store the model version is registered in
    model_cache: Path
    # The drift metrics logged to MLflow by a detached process (the command line, which
    # would otherwise spend more on importing MLflow than on 20 documents).
    metrics_in_background: bool = False

    @property
    def staging(self) -> Path:
        return self.out_dir / "_input"


@contextmanager
def score_job(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
    metrics_in_background: bool = False,
) -> Iterator[ScoreJob]:
    """The job, with the output folder of the model version locked for the block;
    `force` empties the folder first (all but the lock this process holds)."""
    if not params.model:
        raise DoclstmError("score.model is empty; give models:/<name>/<version> or a model folder")
    model = resolve_model(params.model, tracking, model_cache)
    base = params.output if params.output.is_absolute() else workspace_root / params.output
    out_dir = base / model.name / model.version
    out_dir.mkdir(parents=True, exist_ok=True)
    busy = f"score output {out_dir} is being written by another scorer"
    with exclusive_lock(out_dir / OUTPUT_LOCK, params.lock_wait_seconds, busy, LOCK_SETTING):
        if force:
            for child in out_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                elif child.name != OUTPUT_LOCK:
                    child.unlink()
        source = resolve_source(params.input, workspace_root)
        yield ScoreJob(
            params,
            source,
            model.model_dir,
            model.name,
            model.version,
            out_dir,
            tracking,
            model_cache,
            metrics_in_background,
        )


def predictor(job: ScoreJob) -> TextPredictor:
    """The job's model on the best device, loaded once per process."""
    picked = pick_device("auto")
    if job.params.precision == "bf16":
        warn_if_bf16_is_emulated(picked, "score.precision")
    device = str(picked)
    weights = (job.model_dir / MODEL_FILES[0]).stat()
    return TextPredictor(
        _loaded(job.model_dir, device, (weights.st_mtime_ns, weights.st_size)),
        job.params.batch_tokens,
        device,
        job.params.long_documents,
        job.params.precision,
    )


@lru_cache(maxsize=2)
def _loaded(model_dir: Path, device: str, stamp: tuple[int, int]) -> LoadedModel:
    """`stamp` (the weights' mtime and size) makes a model retrained into the same folder
    load again."""
    return load_model_dir(model_dir, device)
