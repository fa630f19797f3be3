"""What the training flows return: each stage's result record, by stage name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from doclstm.scoring.shards import ScoreResult


@dataclass(frozen=True)
class TrainingRun:
    """The result record of each stage of `train_pipeline`, by name, in pipeline order:
    `run["gate"]` is the gate's `GateResult`."""

    results: dict[str, Any]

    def __getitem__(self, stage: str) -> Any:
        return self.results[stage]


@dataclass(frozen=True)
class PipelineRun:
    training: TrainingRun
    score: ScoreResult | None  # None: nothing to score with (`not_scored` says why)
    not_scored: str | None = None
