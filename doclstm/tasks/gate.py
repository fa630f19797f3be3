"""gate: promote the challenger to champion only if it is better on the same test data.

The challenger is the version `register` just wrote (`reports/registration.json`)
with its test predictions from `evaluate`; the current champion is downloaded
from the registry and scores the same test documents from their validated
text with its own tokenizer. doclstm/registry/gate_rules.py decides;
doclstm/registry/model_registry.py moves the alias and tags the version. With no
champion yet the absolute thresholds decide.

Output contract (`reports/`): `gate.json` (the decision, its reason and
evidence, both versions) and `gate.md` (the same for people), which the
`train_pipeline` flow publishes as a markdown artifact. The decision is reused
while challenger, champion and gate settings are unchanged.

Run: `doclstm stage gate`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from doclstm.config.params import GateParams
from doclstm.config.workspace import REGISTRATION_FILE
from doclstm.errors import DoclstmError
from doclstm.evaluation.label_decisions import label_lists
from doclstm.models.device import pick_device
from doclstm.models.model_folder import load_model_dir
from doclstm.registry.gate_rules import Labels, judge, meets_thresholds
from doclstm.registry.model_registry import Registry
from doclstm.scoring.model_ref import resolve_model
from doclstm.scoring.predictor import TextPredictor
from doclstm.storage.atomic import atomic_path, write_json
from doclstm.storage.code_digest import code_digest
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import iter_verified_batches

log = logging.getLogger(__name__)
GATE_JSON, GATE_MD = "gate.json", "gate.md"
DECIDED_BY = "gate"


@dataclass(frozen=True)
class GateResult:
    model_name: str
    challenger: str
    champion: str | None  # after the decision
    decision: str  # promoted | rejected | unchanged (already champion)
    reason: str
    evidence: dict[str, Any]
    tracking_uri: str
    cached: bool

    @property
    def champion_uri(self) -> str | None:
        return f"models:/{self.model_name}/{self.champion}" if self.champion else None


def gate_challenger(
    params: GateParams,
    reports_dir: Path,
    validated_dir: Path,
    model_cache: Path,
    batch_tokens: int,
) -> GateResult:
    """Compare the registered challenger with the champion and record the decision."""
    registration = json.loads((reports_dir / REGISTRATION_FILE).read_text(encoding="utf-8"))
    uri, name, challenger = (
        registration["tracking_uri"],
        registration["model_name"],
        registration["version"],
    )
    registry = Registry(uri, name)
    registry.finish_pending_change()  # a promotion a crash interrupted ends first
    champion = registry.champion()
    key = sha256_json(
        {
            "params": params.model_dump(mode="json"),
            "registry": [uri, name],
            "challenger": challenger,
            "code": code_digest(__name__),
        }
    )
    previous = _previous(reports_dir, key, champion)
    if previous is not None:
        log.info("gate: challenger %s and champion %s unchanged, reusing", challenger, champion)
        return previous
    if champion == challenger:
        return _write(reports_dir, key, _already_champion(registry, uri, challenger, reports_dir))

    metrics = json.loads((reports_dir / "metrics.json").read_text(encoding="utf-8"))
    if champion is None:
        wins, reason = meets_thresholds(metrics, params)
        headline = ("micro_f1", "macro_f1") if "per_label" in metrics else ("accuracy", "macro_f1")
        evidence: dict[str, Any] = {f"challenger_{k}": metrics[k] for k in headline}
    else:
        doc_ids, truth, challenger_labels = _challenger_predictions(reports_dir)
        champion_labels = _champion_predictions(
            uri, name, champion, doc_ids, validated_dir, model_cache, batch_tokens
        )
        wins, reason, found = judge(truth, challenger_labels, champion_labels, params)
        evidence = {"champion_version": champion, **found}
    if wins:
        _verify_registered(registry, challenger, model_cache)
    act = registry.promote if wins else registry.reject
    decision = act(challenger, reason, DECIDED_BY, **evidence)
    log.info("gate: %s version %s %s: %s", name, challenger, decision.decision, reason)
    result = _result(
        name, uri, challenger, decision.champion_after, decision.decision, reason, evidence
    )
    _write_markdown(reports_dir, decision.markdown(name))
    return _write(reports_dir, key, result)


def _verify_registered(registry: Registry, version: str, model_cache: Path) -> None:
    """Download the version and check it against its manifest; a damaged one is rejected
    (and says so in its tags) rather than promoted."""
    try:
        resolve_model(f"models:/{registry.name}/{version}", registry.tracking_uri, model_cache)
    except DoclstmError as exc:
        registry.reject(version, f"its files fail verification: {exc}", DECIDED_BY)
        raise


def _already_champion(
    registry: Registry, uri: str, challenger: str, reports_dir: Path
) -> GateResult:
    """The challenger is champion: by a gate promotion that a crash kept out of gate.json
    (the registry recorded it: that decision, again), or by some earlier decision."""
    decision = registry.last_decision(challenger)
    name = registry.name
    if decision and (decision.decision, decision.decided_by) == ("promoted", DECIDED_BY):
        _write_markdown(reports_dir, decision.markdown(name))
        return _result(
            name, uri, challenger, challenger, "promoted", decision.reason, decision.evidence
        )
    return _result(name, uri, challenger, challenger, "unchanged", "already champion", {})


def _challenger_predictions(reports_dir: Path) -> tuple[list[str], Labels, Labels]:
    path = reports_dir / "test_predictions.parquet"
    # several labels a document: the true `labels` and `predicted` are lists
    truth = "labels" if "labels" in pq.read_schema(path).names else "label"
    table = pq.read_table(path, columns=["doc_id", truth, "predicted"])
    return (
        table["doc_id"].to_pylist(),
        table[truth].to_pylist(),
        table["predicted"].to_pylist(),
    )


def _champion_predictions(
    uri: str,
    name: str,
    version: str,
    doc_ids: list[str],
    validated_dir: Path,
    model_cache: Path,
    batch_tokens: int,
) -> Labels:
    """The champion's labels for `doc_ids`, in that order, from the validated text: one
    a document, or with several labels a document, a list of them."""
    texts = _test_texts(validated_dir, doc_ids)
    resolved = resolve_model(f"models:/{name}/{version}", uri, model_cache)
    device = pick_device("auto")
    predictor = TextPredictor(load_model_dir(resolved.model_dir, device), batch_tokens, str(device))
    scores = predictor.score(texts)
    if scores.chosen is not None:
        return label_lists(scores.chosen, predictor.labels)
    return [predictor.labels[i] for i in scores.probabilities.argmax(1)]


def _test_texts(validated_dir: Path, doc_ids: list[str]) -> list[str]:
    wanted = set(doc_ids)
    found: dict[str, str] = {}
    manifest = StageManifest.load(validated_dir)
    columns = ["doc_id", "text", "split"]
    for batch in iter_verified_batches(validated_dir, manifest, columns=columns):
        rows = batch.filter(pc.equal(batch["split"], "test"))
        for doc_id, text in zip(rows["doc_id"].to_pylist(), rows["text"].to_pylist(), strict=True):
            if doc_id in wanted:
                found[doc_id] = text
    missing = wanted - found.keys()
    if missing:
        raise DoclstmError(
            f"gate: {len(missing)} test documents of the evaluation (e.g. {sorted(missing)[0]}) "
            f"are not in {validated_dir}; run evaluate again on the current data"
        )
    return [found[d] for d in doc_ids]


def _previous(reports_dir: Path, key: str, champion: str | None) -> GateResult | None:
    """The recorded decision on this challenger, if the champion is still what it left."""
    path = reports_dir / GATE_JSON
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("key") != key or record["result"]["champion"] != champion:
        return None
    return GateResult(**{**record["result"], "cached": True})


def _write(reports_dir: Path, key: str, result: GateResult) -> GateResult:
    write_json(reports_dir / GATE_JSON, {"key": key, "result": asdict(result)})
    if result.decision == "unchanged":
        _write_markdown(
            reports_dir,
            f"# {result.model_name} version {result.challenger}: already champion\n",
        )
    return result


def _write_markdown(reports_dir: Path, text: str) -> None:
    with atomic_path(reports_dir / GATE_MD) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _result(
    name: str,
    uri: str,
    challenger: str,
    champion: str | None,
    decision: str,
    reason: str,
    evidence: dict[str, Any],
) -> GateResult:
    return GateResult(name, challenger, champion, decision, reason, evidence, uri, cached=False)
