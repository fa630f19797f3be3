"""The reference of every setting, generated from the schema itself (doclstm/config/params.py).

`setting_rows` walks `Params` group by group: each key as params.yaml spells it
(`train.model.hidden_size`; a source's keys under `score.input`, or `ingest.source[]`
for a list), its type as
the schema declares it, its default, its bounds, and its description: the comment
lines right above the field in the schema's source and the comment after it (the docs
site fills the rest from the shipped params.yaml's comments). So the keys, types and
defaults cannot drift from the settings: the docs site renders `reference_markdown`
(docs/hooks.py), and a test checks it against `Params` key by key.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import tokenize
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from doclstm.config import params as schema


@dataclass(frozen=True)
class Setting:
    key: str  # as params.yaml spells it: group.key, a source's keys as ingest.source[].key
    type: str  # as the schema declares it
    default: str  # as YAML would write it; "required" where there is none
    bounds: str  # the schema's checks on the value (">= 1, <= 100"); empty where none
    description: str


def setting_rows() -> list[Setting]:
    """Every setting of params.yaml, in the schema's order."""
    return list(_rows(schema.Params, ""))


def reference_markdown(fallback: dict[str, str] | None = None) -> str:
    """The reference as Markdown: a section and a table a group; `fallback` describes the
    keys the schema's comments leave undescribed (the shipped params.yaml's comments)."""
    lines: list[str] = []
    group = None
    groups = {f.alias or name: f for name, f in schema.Params.model_fields.items()}
    for row in setting_rows():
        if not row.description and fallback and fallback.get(row.key):
            row = Setting(row.key, row.type, row.default, row.bounds, fallback[row.key])
        head = row.key.split(".")[0]
        if head != group:
            group = head
            doc = _doc(groups[head].annotation)
            lines += ["", f"## `{head}`", "", *([doc, ""] if doc else [])]
            lines += ["| key | type | default | description |", "|---|---|---|---|"]
        checks = f" ({row.bounds})" if row.bounds else ""
        lines.append(
            f"| `{row.key}` | {_cell(row.type)}{checks} | {_cell(row.default)} "
            f"| {_cell(row.description)} |"
        )
    return "\n".join(lines).lstrip() + "\n"


def _rows(model: type[BaseModel], prefix: str) -> Any:
    comments = _field_comments(model)
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested = _nested(field)
        group = field.annotation is nested  # not a list or a mapping of them
        if nested is not None and nested is not schema.SourceParams and group:
            yield from _rows(nested, f"{key}.")  # a group: its keys, not itself
            continue
        yield Setting(
            key,
            _declared_type(model, name),
            _default(field),
            _bounds(field),
            comments.get(name, ""),
        )
        if nested is schema.SourceParams:  # a source (or a list of them: `[]`) and its keys
            listed = field.annotation is not schema.SourceParams
            yield from _rows(nested, f"{key}[]." if listed else f"{key}.")
        elif nested is not None:  # a mapping of them (`tune.space`): each entry's keys
            yield from _rows(nested, f"{key}.<setting>.")


def _nested(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = getattr(annotation, "__origin__", None)
    if origin is list or origin is dict:
        item = annotation.__args__[-1]  # type: ignore[union-attr]
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    elif isinstance(value, dict):  # as a params file writes it: each entry's own keys only
        value = {
            k: v.model_dump(mode="json", exclude_defaults=True) if isinstance(v, BaseModel) else v
            for k, v in value.items()
        }
    return yaml_value(value)


def yaml_value(value: Any) -> str:
    """A value as params.yaml writes it (flow style, one line)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value) if value == "" or value.strip() != value else value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)


def _bounds(field: FieldInfo) -> str:
    names = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "length >="}
    names |= {"max_length": "length <=", "pattern": "matches"}
    found = []
    for item in field.metadata:
        for attr, shown in names.items():
            value = getattr(item, attr, None)
            if value is not None:
                found.append(f"{shown} {value}")
    return ", ".join(found)


@cache
def _class_source(model: type[BaseModel]) -> tuple[ast.ClassDef, list[str]]:
    source = inspect.getsource(model)
    tree = ast.parse(source)
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    return node, source.splitlines()


def _declared_type(model: type[BaseModel], name: str) -> str:
    node, _ = _class_source(model)
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == name:
            return ast.unparse(item.annotation)
    return str(model.model_fields[name].annotation)


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's description: the comment lines right above it and the comment at the
    end of its line."""
    node, lines = _class_source(model)
    trailing: dict[int, str] = {}
    full: dict[int, str] = {}
    text = "\n".join(lines) + "\n"
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            body = token.string.lstrip("#").strip()
            if lines[row - 1][:col].strip():
                trailing[row] = body
            else:
                full[row] = body
    found: dict[str, str] = {}
    for item in node.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        above: list[str] = []
        row = item.lineno - 1
        while row in full:
            above.insert(0, full[row])
            row -= 1
        last = item.end_lineno or item.lineno
        ends = [trailing[r] for r in range(item.lineno, last + 1) if r in trailing]
        found[item.target.id] = " ".join([*above, *ends]).strip()
    return found


def _doc(model: Any) -> str:
    doc = inspect.getdoc(model) if isinstance(model, type) else None
    return " ".join(doc.split()) if doc and doc != inspect.getdoc(BaseModel) else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
