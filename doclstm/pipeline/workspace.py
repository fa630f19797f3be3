"""Where every stage reads and writes, under one workspace root: every contract path.

dvc.yaml declares the paths DVC versions; `Workspace.untracked` names the rest and why
(tests/test_dvc.py checks both against dvc.yaml). The caches computed from a tokens
folder sit beside it (`TokenCaches`), so a benchmark's own tokens folder has its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REGISTRATION_FILE = "registration.json"  # reports/: the version `register` wrote
EVALUATION_REPORT = "evaluation.html"  # reports/: evaluate's page of it all
DATA_DOCS = "data_docs"  # reports/validation/: Great Expectations' HTML site


@dataclass(frozen=True)
class TokenCaches:
    """What the train and evaluate stages compute from one tokens folder and keep beside it."""

    tokens: Path

    @property
    def windows(self) -> Path:
        """MiniLM window vectors of hierarchical models (tasks/window_cache.py)."""
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
