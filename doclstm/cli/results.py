"""How a command's result reaches the terminal: readable lines, or JSON with `--json`.

A stage or score result is a dataclass of counts, paths and nested results. On a
terminal it prints as `key  value` lines (nested results indented under their key);
with `--json` it is one JSON document on standard output, the log lines staying on
standard error, so `doclstm stage train --json | jq .fit` works.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import PurePath
from typing import Any

from rich.console import Console
from rich.markup import escape


def jsonable(value: Any) -> Any:
    """`value` with dataclasses as dicts, paths as strings and enums as their values."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def result_lines(value: Any, indent: int = 0) -> list[str]:
    """`value` as `key  value` lines; a nested mapping under its key, indented."""
    value = jsonable(value)
    if not isinstance(value, dict):
        return [" " * indent + _scalar(value)]
    width = max((len(k) for k in value), default=0)
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            lines.append(" " * indent + key)
            lines += result_lines(item, indent + 2)
        else:
            lines.append(" " * indent + f"{key:<{width}}  {_scalar(item)}")
    return lines


def print_result(result: Any, as_json: bool, console: Console) -> None:
    if as_json:
        print(json.dumps(jsonable(result), indent=2))
        return
    for line in result_lines(result):
        console.print(escape(line), highlight=False, soft_wrap=True)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else "nan"
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return "-"
    if value is None:
        return "-"
    return str(value)
