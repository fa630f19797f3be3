"""The Optuna study: SQLite under the workspace, TPE, a pruner, and what a kill leaves.

Why Optuna and not Ray Tune: a study in one SQLite file beside the data resumes a killed
search with nothing running (Ray Tune restores from its experiment folder through a Ray
runtime), a laptop with two cores needs no cluster to search, and its pruners take the
per-epoch val metric the trainer already gives. Parallel trials are processes sharing
the file (`tune.workers`).

A trial still RUNNING in the file when a search starts was cut off by a kill (one search
holds the workspace at a time): it is marked failed as interrupted and its settings are
queued again, so its resume checkpoint carries it on; finished trials are never rerun.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from doclstm.config.params import Params
from doclstm.config.workspace import initial_encoder, teacher_transfer, workspace
from doclstm.errors import DoclstmError
from doclstm.storage.code_digest import code_digest
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.manifest import StageManifest
from doclstm.tuning.space import SearchSpace, dotted

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
STUDY_FILE = "study.db"
INTERRUPTED = "interrupted: the search stopped during this trial; its settings run again"
# Trials a study counts toward tune.trials: not those a kill or Ctrl-C cut off (rerun).
REASON = "fail_reason"


@dataclass(frozen=True)
class StudyPlace:
    """Where a study lives and what it was started on."""

    name: str
    folder: Path
    basis: str  # the digest of the data, the code and the unsearched settings

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{(self.folder / STUDY_FILE).resolve()}"

    def trial_dir(self, key: str) -> Path:
        return self.folder / "trials" / key


def study_place(params: Params, space: SearchSpace) -> StudyPlace:
    """The study `params` names (tune.study), or the one named after its basis."""
    basis = _basis(params, space)
    name = params.tune.study or f"study-{basis[:10]}"
    return StudyPlace(name, workspace(params).studies / name, basis)


def _basis(params: Params, space: SearchSpace) -> str:
    """What trials' results depend on besides the searched settings: the tokens (and the
    transfer set and encoder trials start from), the training code and how a trial is
    scored, the seed, every other train.* setting and the space itself."""
    ws = workspace(params)
    upstream = {"tokens": StageManifest.load(ws.tokens).fingerprint}
    if (transfer := teacher_transfer(params)) is not None:
        upstream["transfer"] = StageManifest.load(transfer).fingerprint
    if (encoder := initial_encoder(params)) is not None:
        upstream["encoder"] = StageManifest.load(encoder).fingerprint
    train = params.train.result_settings(params.teacher.enabled)
    for key in space.keys:
        node, last = dotted(train, key.removeprefix("train."))
        node.pop(last, None)
    return sha256_json(
        {
            **upstream,
            "code": code_digest("doclstm.tasks.train", "doclstm.tuning.trial"),
            "seed": params.base.seed,
            "train": train,
            "space": {k: v.model_dump(mode="json") for k, v in params.tune.space.items()},
        }
    )


def direction(params: Params) -> Literal["minimize", "maximize"]:
    return "minimize" if params.train.monitor == "val_log_loss" else "maximize"


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    import optuna

    if name == "median":  # the first two trials run whole; no trial stops at its first epoch
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(place: StudyPlace, params: Params) -> optuna.Study:
    """The study at `place`, created when new; refused when it was started on another
    basis (other data, code or settings: its trials' scores would not compare)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    place.folder.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(
        place.storage_url, engine_kwargs={"connect_args": {"timeout": 120}}
    )
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    known = place.name in existing
    # Seeded afresh on every start with the trials so far, so a resumed search does not
    # draw its first trials' random settings again; the same history, the same draws.
    trials_before = (
        len(optuna.load_study(study_name=place.name, storage=storage).trials) if known else 0
    )
    sampler = optuna.samplers.TPESampler(
        seed=params.base.seed + trials_before,
        n_startup_trials=max(3, min(10, params.tune.trials // 3)),
        multivariate=True,
        constant_liar=params.tune.workers > 1,
    )
    study = optuna.create_study(
        study_name=place.name,
        storage=storage,
        direction=direction(params),
        sampler=sampler,
        pruner=make_pruner(params.tune.pruner),
        load_if_exists=True,
    )
    recorded = study.user_attrs.get("basis")
    if recorded is None:
        study.set_user_attr("basis", place.basis)
        study.set_user_attr("monitor", params.train.monitor)
    elif recorded != place.basis:
        raise DoclstmError(
            f"study {place.name} was started on other data, code or settings; name a new "
            f"one (--set tune.study=NAME), or remove {place.folder} to start it again"
        )
    return study


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Mark the trials a kill left RUNNING as failed (interrupted) and queue their
    settings again; their numbers."""
    import optuna
    from optuna.trial import TrialState

    cut = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for frozen in cut:
        # Optuna gives a running trial's handle back by its storage id alone.
        trial = optuna.trial.Trial(study, frozen._trial_id)
        trial.set_user_attr(REASON, INTERRUPTED)
        study.tell(trial, state=TrialState.FAIL)
        if frozen.params:
            study.enqueue_trial(frozen.params, user_attrs={"retry_of": frozen.number})
        log.info("tune: trial %d was interrupted; its settings run again", frozen.number)
    return [frozen.number for frozen in cut]


def counted(trial: Any) -> bool:
    """Whether a finished trial counts toward tune.trials (an interrupted one does not)."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(REASON) != INTERRUPTED
