"""Where every stage reads and writes, under one workspace root.

dvc.yaml names the same relative paths (a test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def ingested(self) -> Path:
        return self.root / "data" / "ingested"

    @property
    def quarantine(self) -> Path:
        return self.root / "data" / "quarantine"

    @property
    def validated(self) -> Path:
        return self.root / "data" / "validated"

    @property
    def tokens(self) -> Path:
        return self.root / "data" / "tokens"

    @property
    def mlflow(self) -> Path:
        return self.root / "data" / "mlflow"

    @property
    def model_cache(self) -> Path:
        return self.root / "data" / "model_cache"

    def model_dir(self, run_name: str) -> Path:
        return self.root / "models" / run_name

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def validation_reports(self) -> Path:
        return self.reports / "validation"

    @property
    def hash_state(self) -> Path:
        """DVC's hash cache for `nightly_retrain`'s source hashes."""
        return self.root / "data" / "hash_state"
