"""Champion and challenger in the MLflow model registry, and the record of every decision.

`challenger` points at the newest registered version, `champion` at the one
that scores archives. Each change of champion (by the gate, `doclstm
promote` or `doclstm rollback`) appends to, or pops from, the registered
model's champion history (a tag), so a rollback restores exactly the
previous champion. Every decision is written to the version it concerns as
tags (`decision`, `reason`, `decided_by`, `decided_at` and the evidence
under `gate.*`) and rendered as markdown for a Prefect artifact.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from doclstm.errors import DoclstmError

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "doclstm.champion_history"


@dataclass(frozen=True)
class Decision:
    """One registry decision about `version`, with the evidence behind it."""

    decision: str  # promoted | rejected | rolled_back | restored
    version: str
    reason: str
    decided_by: str
    champion_before: str | None
    champion_after: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def tags(self) -> dict[str, str]:
        tags = {
            "decision": self.decision,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
        }
        return tags | {f"gate.{k}": _text(v) for k, v in self.evidence.items()}

    def markdown(self, model_name: str) -> str:
        lines = [
            f"# {model_name} version {self.version}: {self.decision}",
            "",
            self.reason,
            "",
            f"- decided by: {self.decided_by}, at {self.decided_at}",
            f"- champion before: {self.champion_before or 'none'}; "
            f"after: {self.champion_after or 'none'}",
        ]
        if self.evidence:
            lines += ["", "| evidence | value |", "|---|---|"]
            lines += [f"| {k} | {_text(v)} |" for k, v in self.evidence.items()]
        return "\n".join(lines) + "\n"


def manual_actor() -> str:
    try:
        return f"manual ({getpass.getuser()})"
    except (KeyError, OSError):  # no user name in some containers
        return "manual"


class Registry:
    """The aliases and champion history of one registered model."""

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.client = MlflowClient(tracking_uri)
        self.name = model_name

    def champion(self) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(self.name, CHAMPION).version)
        except MlflowException:
            return None

    def version_tags(self, version: str) -> dict[str, str]:
        try:
            return dict(self.client.get_model_version(self.name, version).tags)
        except MlflowException as exc:
            raise DoclstmError(f"{self.name} has no version {version}: {exc.message}") from exc

    def history(self) -> list[str]:
        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException as exc:
            raise DoclstmError(f"no registered model {self.name!r}: {exc.message}") from exc
        return list(json.loads(tags.get(HISTORY_TAG, "[]")))

    def record(self, decision: Decision) -> None:
        for key, value in decision.tags().items():
            self.client.set_model_version_tag(self.name, decision.version, key, value)

    def promote(self, version: str, reason: str, decided_by: str, **evidence: Any) -> Decision:
        """Make `version` champion and record why."""
        self.version_tags(version)  # fails clearly on an unknown version
        before = self.champion()
        if before == version:
            raise DoclstmError(f"{self.name} version {version} is already the champion")
        self._set_history([*self.history(), version])
        self.client.set_registered_model_alias(self.name, CHAMPION, version)
        decision = Decision("promoted", version, reason, decided_by, before, version, evidence)
        self.record(decision)
        return decision

    def reject(self, version: str, reason: str, decided_by: str, **evidence: Any) -> Decision:
        champion = self.champion()
        decision = Decision("rejected", version, reason, decided_by, champion, champion, evidence)
        self.record(decision)
        return decision

    def rollback(self, reason: str, decided_by: str) -> Decision:
        """Champion back to the champion before it; the demoted version records why."""
        history = self.history()
        current = self.champion()
        if current is None:
            raise DoclstmError(f"{self.name} has no champion to roll back")
        if len(history) < 2 or history[-1] != current:
            raise DoclstmError(
                f"{self.name}: no earlier champion recorded before version {current} "
                f"(champion history {history}); use `doclstm promote VERSION` instead"
            )
        previous = history[-2]
        self._set_history(history[:-1])
        self.client.set_registered_model_alias(self.name, CHAMPION, previous)
        demoted = Decision("rolled_back", current, reason, decided_by, current, previous)
        self.record(demoted)
        self.record(
            Decision(
                "restored",
                previous,
                f"champion again after version {current} was rolled back: {reason}",
                decided_by,
                current,
                previous,
            )
        )
        return demoted

    def _set_history(self, versions: list[str]) -> None:
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(versions))


def _text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
