"""Where every stage reads and writes, under one workspace root: every contract path.

dvc.yaml declares the paths DVC versions; `Workspace.untracked` names the rest and why
(tests/test_dvc.py checks both against dvc.yaml). The caches computed from a tokens
folder sit beside it (`TokenCaches`), so a benchmark's own tokens folder has its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doclstm.config.params import Params

REGISTRATION_FILE = "registration.json"  # reports/: the version `register` wrote
EVALUATION_REPORT = "evaluation.html"  # reports/: evaluate's page of it all
DATA_DOCS = "data_docs"  # reports/validation/: Great Expectations' HTML site


@dataclass(frozen=True)
class TokenCaches:
    """What the train and evaluate stages compute from one tokens folder and keep beside it."""

    tokens: Path

    @property
    def windows(self) -> Path:
        """MiniLM window vectors of hierarchical models (doclstm/training/window_cache.py)."""
        return self.tokens.parent / "windows"

    @property
    def token_vectors(self) -> Path:
        """Token vectors distilled from MiniLM (doclstm/models/token_vectors.py)."""
        return self.tokens.parent / "token_vectors"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def ingested(self) -> Path:
        return self.data / "ingested"

    @property
    def quarantine(self) -> Path:
        return self.data / "quarantine"

    @property
    def validated(self) -> Path:
        return self.data / "validated"

    @property
    def tokens(self) -> Path:
        return self.data / "tokens"

    @property
    def windows(self) -> Path:
        return TokenCaches(self.tokens).windows

    @property
    def token_vectors(self) -> Path:
        return TokenCaches(self.tokens).token_vectors

    @property
    def transfer(self) -> Path:
        """The teacher's logits for the student to distil (doclstm/training/transfer_set.py)."""
        return self.data / "transfer"

    @property
    def mlflow(self) -> Path:
        return self.data / "mlflow"

    @property
    def model_cache(self) -> Path:
        return self.data / "model_cache"

    @property
    def hash_state(self) -> Path:
        """DVC's hash cache for `nightly_retrain`'s source hashes."""
        return self.data / "hash_state"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model_dir(self, run_name: str) -> Path:
        return self.models / run_name

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def studies(self) -> Path:
        """`doclstm tune`'s Optuna studies (doclstm/tuning/study.py): tuning/dvc.yaml's."""
        return self.root / "studies"

    @property
    def validation_reports(self) -> Path:
        return self.reports / "validation"

    @property
    def registration(self) -> Path:
        return self.reports / REGISTRATION_FILE

    @property
    def evaluation_report(self) -> Path:
        return self.reports / EVALUATION_REPORT

    @property
    def data_docs(self) -> Path:
        return self.validation_reports / DATA_DOCS

    def untracked(self) -> dict[Path, str]:
        """The paths dvc.yaml leaves out on purpose, and why."""
        return {
            self.mlflow: "the MLflow store: the registry versions models, not DVC",
            self.model_cache: "registry models downloaded for scoring and the gate",
            self.hash_state: "DVC's own hash cache for the nightly training key",
            self.windows: "rebuilt from the tokens and the shipped MiniLM when missing",
            self.token_vectors: "rebuilt from the tokenizer and the shipped MiniLM",
        }


def workspace(params: Params) -> Workspace:
    return Workspace(params.base.workspace)


def encoder_folder(params: Params) -> Path:
    """Where the pretrain stage writes the encoder `train` starts from."""
    return workspace(params).model_dir(f"{params.train.run_name}.encoder")


def teacher_folder(params: Params) -> Path:
    """Where the teacher stage writes the fine-tuned MiniLM."""
    return workspace(params).model_dir(f"{params.train.run_name}.teacher")


def teacher_transfer(params: Params) -> Path | None:
    """The transfer set `train` distils from: the teacher stage's, when it is enabled."""
    return workspace(params).transfer if params.teacher.enabled else None


def pinned_tokenizer(params: Params) -> Path | None:
    """The kept tokenizer.json `tokenize` uses as is (`tokenize.tokenizer`), if any; only
    tokenize reads it (`doclstm.text.tokenizer.pinned_sha256` says when it is missing)."""
    return workspace(params).root / params.tokenize.tokenizer if params.tokenize.tokenizer else None


def initial_encoder(params: Params) -> Path | None:
    """The encoder `train` starts from: `train.init_from`, else the pretrain stage's."""
    if params.train.init_from:
        return workspace(params).root / params.train.init_from
    return encoder_folder(params) if params.pretrain.enabled else None
