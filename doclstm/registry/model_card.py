"""The model card: what a registered version is, in markdown, for the people who pick it.

`register` writes it from the files the pipeline already keeps (the model's and the
token shards' manifests, the validation summary, reports/metrics.json, the lineage
tags) and logs it three ways: as `model_card.md` on the run, as the run's description
and as the model version's description, which is what MLflow's registry page shows.
The gate later replaces the card's last section with its decision (`with_decision`).
"""

from __future__ import annotations

from typing import Any

CARD_FILE = "model_card.md"
DECISION_HEADING = "## Gate decision"
NOT_JUDGED = "Not judged yet: `doclstm stage gate` compares it with the champion."
HEADLINE = ("accuracy", "macro_f1", "log_loss", "expected_calibration_error", "roc_auc")
MULTILABEL_HEADLINE = (
    "micro_f1",
    "macro_f1",
    "samples_f1",
    "subset_accuracy",
    "hamming_loss",
    "log_loss",
    "expected_calibration_error",
)


def model_card(
    name: str,
    settings: dict[str, Any],
    model: dict[str, Any],
    tokens: dict[str, Any],
    validation: dict[str, Any],
    metrics: dict[str, Any],
    lineage: dict[str, str],
) -> str:
    """The card of `name`, from the params (`settings`), the summaries of the model and
    token manifests, the validation summary, the evaluation metrics and the lineage."""
    train = settings["train"]
    net = train["model"]
    labels = tokens["labels"]
    splits = tokens["splits"]
    census = validation.get("census", {}).get("splits", {})
    multi = "per_label" in metrics  # several labels a document
    listed = ", ".join(f"`{label}`" for label in labels)
    what = (
        f"Gives a document any of {len(labels)} labels: {listed}, each at or over its own "
        "threshold (tuned on val). It takes raw text (the MLflow pyfunc's `text` column) and "
        "returns `predicted` (a list of labels), `confidence` (the probability that the list "
        "is exactly right) and one `prob_<label>` column a label"
        if multi
        else f"Classifies a document into one of {len(labels)} classes: {listed}. It takes "
        "raw text (the MLflow pyfunc's `text` column) and returns `predicted`, `confidence` "
        "and one `prob_<class>` column a class"
    )
    lines = [
        f"# {name}: a {'bidirectional ' if net['bidirectional'] else ''}"
        f"{net['cell'].upper()} document classifier",
        "",
        f"{what}; an empty text is not scored.",
        "",
        "## Data",
        "",
        f"Source: `{_source(settings['ingest']['source'])}`. Validation kept "
        f"{validation['passed']:,} of {validation['rows']:,} documents and quarantined "
        f"{validation['quarantined']:,}" + _reasons(validation["reasons"]) + ".",
        "",
        "| split | documents | tokens | cut at max_tokens | median characters |",
        "|---|---|---|---|---|",
    ]
    for split in ("train", "val", "test"):
        if split in splits:
            info = splits[split]
            chars = census.get(split, {}).get("chars", {}).get("p50")
            lines.append(
                f"| {split} | {info['documents']:,} | {info['tokens']:,} | "
                f"{info['truncated']:,} | {'-' if chars is None else f'{chars:,.0f}'} |"
            )
    lines += [
        "",
        "## Settings",
        "",
        f"- model: {net['kind']} {net['cell']}, {net['num_layers']} layer(s) of "
        f"{net['hidden_size']}, {net['pooling']} pooling, embeddings {net['embedding_dim']} "
        f"initialised from `{net['embedding_init']}`",
        f"- token bag beside the RNN: {net['bag_buckets']:,} buckets, RNN share "
        f"{model.get('bag', {}).get('rnn_share', net['rnn_share'])}"
        if net.get("bag_buckets")
        else "- token bag: none (the RNN alone)",
        f"- tokenizer: {tokens['params']['model']}, {tokens['params']['vocab_size']:,} tokens; "
        f"`tokenize.max_tokens` {tokens['params']['max_tokens']:,} "
        f"({tokens['params']['truncation']})",
        f"- training: {train['epochs']} epochs at most, best epoch {model.get('best_epoch')}, "
        f"seed {settings['base']['seed']}, "
        f"{model.get('seconds', 0):.0f} s on {model.get('device')}",
        *_calibration(model.get("calibration")),
        *_teacher(model.get("distillation")),
        "",
        f"## Test metrics ({metrics['documents']:,} documents)",
        "",
        "| metric | value | 95% interval |",
        "|---|---|---|",
    ]
    intervals = metrics["intervals_95"]
    for key in MULTILABEL_HEADLINE if multi else HEADLINE:
        if metrics.get(key) is None:
            continue
        low_high = intervals.get(key)
        shown = f"{low_high[0]:.4f} - {low_high[1]:.4f}" if low_high else "-"
        lines.append(f"| {key} | {metrics[key]:.4f} | {shown} |")
    kind = "label" if multi else "class"
    lines += ["", f"| {kind} | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, values in metrics["per_label" if multi else "per_class"].items():
        lines.append(
            f"| {label} | {values['precision']:.4f} | {values['recall']:.4f} | "
            f"{values['f1']:.4f} | {values['support']} |"
        )
    lines += [
        "",
        "## Lineage",
        "",
        *(f"- {key}: `{value}`" for key, value in sorted(lineage.items())),
        "",
        "## Limitations",
        "",
        *_limitations(splits, tokens["params"], metrics, net),
        "",
        DECISION_HEADING,
        "",
        NOT_JUDGED,
        "",
    ]
    return "\n".join(lines)


def _calibration(calibration: dict[str, float] | None) -> list[str]:
    if not calibration:
        return []
    return [
        f"- probabilities: logits divided by a temperature of {calibration['temperature']:.3f} "
        f"fitted on val (expected calibration error on val "
        f"{calibration['val_ece_before']:.4f} before, {calibration['val_ece_after']:.4f} after)"
    ]


def _teacher(distillation: dict[str, Any] | None) -> list[str]:
    """The teacher a distilled model learned from; scoring never loads it."""
    if not distillation:
        return ["- teacher: none (trained on the gold labels alone)"]
    teacher = distillation["teacher"]
    documents = ", ".join(f"{n:,} {origin}" for origin, n in distillation["documents"].items())
    return [
        f"- teacher: all-MiniLM-L6-v2 fine-tuned at learning rate {teacher['learning_rate']:g}, "
        f"epoch {teacher['best_epoch']}: val accuracy {teacher['val']['accuracy']:.4f}, "
        f"test accuracy {teacher['test']['accuracy']:.4f} (reported, chosen by nothing); "
        "scoring needs this model alone",
        f"- distillation: {distillation['loss']} on the teacher's logits, gold-label weight "
        f"{distillation['weight']:g}, over a transfer set of {documents} documents",
    ]


def with_decision(card: str, decision: str) -> str:
    """`card` with its gate section replaced by `decision` (markdown); a card without the
    section (written by hand) gets one at its end."""
    head = card.split(DECISION_HEADING, 1)[0].rstrip()
    # The decision's own headings go under the section's.
    body = "\n".join(f"##{line}" if line.startswith("#") else line for line in decision.split("\n"))
    return f"{head}\n\n{DECISION_HEADING}\n\n{body.strip()}\n"


def model_description(card: str) -> str:
    """The registered model's description: the first version's summary paragraph."""
    return card.split("\n\n", 2)[1] + "\n\nEach version's description is its model card."


def _limitations(
    splits: dict[str, Any], tokenize: dict[str, Any], metrics: dict[str, Any], net: dict[str, Any]
) -> list[str]:
    cut = {split: info["truncated"] for split, info in splits.items() if info["truncated"]}
    found = []
    if cut:
        shown = ", ".join(f"{n:,} of {splits[s]['documents']:,} {s}" for s, n in cut.items())
        found.append(
            f"- Documents over `tokenize.max_tokens` ({tokenize['max_tokens']:,}) were cut "
            f"({tokenize['truncation']}) in training and evaluation: {shown}."
        )
    buckets = metrics.get("accuracy_by_length") or []
    if len(buckets) > 1:
        worst = min(buckets, key=lambda b: b["accuracy"])
        found.append(
            f"- Accuracy by length (before the cut) is lowest, {worst['accuracy']:.4f}, for "
            f"documents of {worst['min_tokens']:,} to {worst['max_tokens']:,} tokens "
            f"({worst['documents']:,} test documents)."
        )
    if net["bidirectional"]:
        found.append(
            "- Bidirectional: scoring truncates long documents as training did (a "
            "unidirectional model would read them whole, window by window)."
        )
    kind = "labels" if "per_label" in metrics else "classes"
    found.append(
        f"- Trained on the {kind} above only: a document of another kind still gets one of "
        "them; read `confidence`, and the drift report of every scored archive."
    )
    return found


def _source(source: Any) -> str:
    sources = source if isinstance(source, list) else [source]
    return ", ".join(str(s.get("path", s)) if isinstance(s, dict) else str(s) for s in sources)


def _reasons(reasons: dict[str, int]) -> str:
    if not reasons:
        return ""
    return " (" + "; ".join(f"{reason}: {n:,}" for reason, n in reasons.items()) + ")"
