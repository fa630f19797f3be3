"""Champion and challenger in the MLflow model registry, and the record of every decision.

`challenger` points at the newest registered version, `champion` at the one
that scores archives. Each change of champion (by the gate, `doclstm
promote` or `doclstm rollback`) appends to, or pops from, the registered
model's champion history (a tag), so a rollback restores exactly the
previous champion. Every decision is written to the version it concerns as
tags (`decision`, `reason`, `decided_by`, `decided_at` and the evidence
under `gate.*`, and the whole decision as JSON under `doclstm.decision`) and
rendered as markdown for a Prefect artifact.

A change of champion is several registry calls (history tag, alias, version
tags), so it is journalled: the whole change is first written as one tag of
the registered model (`doclstm.pending_change`), then applied, then the tag
is removed. Every step sets a value, so applying twice equals applying once;
whoever opens the registry next (`finish_pending_change`: the gate, promote,
rollback) completes a change a crash interrupted, and the registry never
stays half changed.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from doclstm.config.tracking import registered_models_hint
from doclstm.errors import DoclstmError
from doclstm.registry.model_card import with_decision

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "doclstm.champion_history"
PENDING_TAG = "doclstm.pending_change"
DECISION_TAG = "doclstm.decision"


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
        tags |= {f"gate.{k}": _text(v) for k, v in self.evidence.items()}
        return tags | {DECISION_TAG: json.dumps(asdict(self), sort_keys=True)}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Decision | None:
        """The last decision recorded on a version, if any."""
        raw = tags.get(DECISION_TAG)
        return cls(**json.loads(raw)) if raw else None

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
        self.tracking_uri = tracking_uri
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

    def _missing(self, exc: Any) -> DoclstmError:
        hint = registered_models_hint(self.client, self.name)
        return DoclstmError(f"no registered model {self.name!r}: {exc.message}{hint}")

    def history(self) -> list[str]:
        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException as exc:
            raise self._missing(exc) from exc
        return list(json.loads(tags.get(HISTORY_TAG, "[]")))

    def versions(self) -> list[dict[str, Any]]:
        """Every version, newest first: aliases, when registered, its test metrics, whether
        it was fine-tuned, and the last decision about it."""
        try:
            found = self.client.search_model_versions(f"name = '{self.name}'")
            # search_model_versions leaves a version's aliases empty: the model has them
            aliases = self.client.get_registered_model(self.name).aliases
        except MlflowException as exc:
            raise self._missing(exc) from exc
        rows = []
        for version in sorted(found, key=lambda v: int(v.version), reverse=True):
            tags = dict(version.tags)
            created = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
            decision = Decision.from_tags(tags)
            rows.append(
                {
                    "version": str(version.version),
                    "aliases": sorted(
                        a for a, v in aliases.items() if str(v) == str(version.version)
                    ),
                    "registered_at": created.isoformat(timespec="seconds"),
                    "test_accuracy": _number(tags.get("test_accuracy")),
                    "test_macro_f1": _number(tags.get("test_macro_f1")),
                    "pretrained_encoder": tags.get("pretrained_encoder", "none"),
                    "run_id": version.run_id,
                    "decision": None if decision is None else asdict(decision),
                }
            )
        return rows

    def record(self, decision: Decision) -> None:
        """The decision as the version's tags, and as the last section of its model card
        (the version's description); each a plain set, so a rerun writes the same."""
        for key, value in decision.tags().items():
            self.client.set_model_version_tag(self.name, decision.version, key, value)
        card = self.client.get_model_version(self.name, decision.version).description or ""
        self.client.update_model_version(
            self.name,
            decision.version,
            description=with_decision(card, decision.markdown(self.name)),
        )

    def last_decision(self, version: str) -> Decision | None:
        return Decision.from_tags(self.version_tags(version))

    def promote(self, version: str, reason: str, decided_by: str, **evidence: Any) -> Decision:
        """Make `version` champion and record why."""
        self.finish_pending_change()
        self.version_tags(version)  # fails clearly on an unknown version
        before = self.champion()
        if before == version:
            raise DoclstmError(f"{self.name} version {version} is already the champion")
        decision = Decision("promoted", version, reason, decided_by, before, version, evidence)
        self._change([*self.history(), version], version, [decision])
        return decision

    def reject(self, version: str, reason: str, decided_by: str, **evidence: Any) -> Decision:
        self.finish_pending_change()
        champion = self.champion()
        decision = Decision("rejected", version, reason, decided_by, champion, champion, evidence)
        self.record(decision)  # tags only, each a plain set: a rerun writes the same
        return decision

    def previous_champion(self) -> str:
        """The champion a rollback would restore."""
        history = self.history()
        current = self.champion()
        if current is None:
            raise DoclstmError(f"{self.name} has no champion to roll back")
        if len(history) < 2 or history[-1] != current:
            raise DoclstmError(
                f"{self.name}: no earlier champion recorded before version {current} "
                f"(champion history {history}); use `doclstm promote VERSION` instead"
            )
        return history[-2]

    def rollback(self, reason: str, decided_by: str) -> Decision:
        """Champion back to the champion before it; the demoted version records why."""
        self.finish_pending_change()
        previous = self.previous_champion()
        history = self.history()
        current = history[-1]
        demoted = Decision("rolled_back", current, reason, decided_by, current, previous)
        restored = Decision(
            "restored",
            previous,
            f"champion again after version {current} was rolled back: {reason}",
            decided_by,
            current,
            previous,
        )
        self._change(history[:-1], previous, [demoted, restored])
        return demoted

    def finish_pending_change(self) -> None:
        """Apply the change a crashed promote or rollback left journalled, if any."""
        try:
            raw = self.client.get_registered_model(self.name).tags.get(PENDING_TAG)
        except MlflowException:  # no registered model yet: nothing can be pending
            return
        if raw is not None:
            change = json.loads(raw)
            decisions = [Decision(**d) for d in change["decisions"]]
            self._apply(change["history"], change["champion"], decisions)

    def _change(self, history: list[str], champion: str, decisions: list[Decision]) -> None:
        change = {
            "history": history,
            "champion": champion,
            "decisions": [asdict(d) for d in decisions],
        }
        self.client.set_registered_model_tag(self.name, PENDING_TAG, json.dumps(change))
        self._apply(history, champion, decisions)

    def _apply(self, history: list[str], champion: str, decisions: list[Decision]) -> None:
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history))
        self.client.set_registered_model_alias(self.name, CHAMPION, champion)
        for decision in decisions:
            self.record(decision)
        self.client.delete_registered_model_tag(self.name, PENDING_TAG)


def _text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
