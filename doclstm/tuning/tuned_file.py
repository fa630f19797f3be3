"""params.tuned.yaml: the best trial's settings that differ from the base file, over it.

    # doclstm tune: study study-3f2a9c01d4, best of 12 trials: trial 7, val_macro_f1
    # 0.9712 (the base settings, trial 0: 0.9650). Train with:
    #   doclstm run --params params.tuned.yaml
    extends: params.yaml
    train:
      learning_rate: 0.0042

`extends` (read by doclstm.config.params.load_params) keeps every other setting of the
base file, so the file stays right when the base file changes elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from doclstm.config.params import Params
from doclstm.storage.atomic import atomic_path
from doclstm.tuning.space import dotted, setting_value


@dataclass(frozen=True)
class Best:
    study: str
    trials: int  # trials the study counts
    number: int
    value: float
    monitor: str
    settings: dict[str, Any]
    base_value: float | None  # the base settings' trial, when the study ran one


def changed_settings(base: Params, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings whose value differs from `base`'s, by dotted key."""
    return {k: v for k, v in settings.items() if v != setting_value(base, k)}


def write_tuned(output: Path, base_file: Path | None, base: Params, best: Best) -> dict[str, Any]:
    """Write `output`; the changed settings it holds, by dotted key."""
    changed = changed_settings(base, best.settings)
    versus = ""
    if changed and best.base_value is not None:
        versus = f" (the base settings, trial 0: {best.base_value:.4f})"
    lines = [
        f"# doclstm tune: study {best.study}, best of {best.trials} trials: trial "
        f"{best.number}, {best.monitor} {best.value:.4f}{versus}.",
        "# Train with:",
        f"#   doclstm run --params {output}",
    ]
    if not changed:
        lines.append("# The base settings were the best found: nothing to change.")
    document: dict[str, Any] = {}
    if base_file is not None:
        document["extends"] = os.path.relpath(base_file.resolve(), output.resolve().parent)
    for key, value in changed.items():
        node, last = dotted(document, key, create=True)
        node[last] = value
    text = "\n".join(lines) + "\n"
    if document:
        text += yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return changed
