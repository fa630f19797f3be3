"""The search space of `tune.space`, checked against the params schema before any trial.

Each key names a train.* setting; its type (int, float, or anything else) comes from the
schema, so `{low: 20, high: 200}` searches ints for `train.min_steps_per_epoch` and floats
for `train.model.dropout`. A range's ends and every choice are validated as values of the
setting (its type and bounds), so a space that would give invalid values is refused in
one line before anything trains.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from doclstm.config.params import Params, SearchRange, TrainParams
from doclstm.errors import DoclstmError

# Settings no trial may change: the metric trials are compared by, and where the model goes.
FIXED = {
    "train.monitor": "trials are compared by it",
    "train.run_name": "it names the model folder, not the model",
    "train.init_from": "the encoder the trials start from is the search's input",
}
CHOICE_TYPES = (str, int, float, bool, type(None))  # what Optuna stores as a choice

Kind = Literal["int", "float", "choice"]


@dataclass(frozen=True)
class Dimension:
    """One searched setting: its key, its range and the kind of value it takes."""

    key: str
    range: SearchRange
    kind: Kind

    def suggest(self, trial: Any) -> Any:
        """This setting's value for `trial` (an optuna.Trial)."""
        r = self.range
        if r.choices is not None:
            return trial.suggest_categorical(self.key, r.choices)
        assert r.low is not None and r.high is not None  # SearchRange checked it
        if self.kind == "int":
            step = int(r.step or 1)
            return trial.suggest_int(self.key, int(r.low), int(r.high), step=step, log=r.log)
        return trial.suggest_float(self.key, r.low, r.high, step=r.step, log=r.log)

    def holds(self, value: Any) -> bool:
        """Whether `value` is one this dimension can give (the defaults' trial is queued
        only when every setting's default is)."""
        r = self.range
        if r.choices is not None:
            return any(value == c and type(value) is type(c) for c in r.choices)
        assert r.low is not None and r.high is not None
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if not r.low <= value <= r.high:
            return False
        steps = (value - r.low) / r.step if r.step else 0.0
        return abs(steps - round(steps)) < 1e-9


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @classmethod
    def of(cls, params: Params) -> SearchSpace:
        """`params.tune.space`, checked against the schema and `params`' own values."""
        if not params.tune.space:
            raise DoclstmError("tune.space is empty: name at least one train.* setting")
        dimensions = tuple(
            _dimension(key, entry, params) for key, entry in params.tune.space.items()
        )
        return cls(dimensions)

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {d.key: d.suggest(trial) for d in self.dimensions}

    def defaults(self, params: Params) -> dict[str, Any] | None:
        """`params`' own values of the searched settings, when the space holds them all."""
        values = {key: setting_value(params, key) for key in self.keys}
        held = all(d.holds(values[d.key]) for d in self.dimensions)
        return values if held else None


def setting_value(params: Params, key: str) -> Any:
    """The value of dotted `key` in `params` (as params.yaml writes it)."""
    node, last = dotted(params.model_dump(mode="json", by_alias=True), key)
    return node[last]


def with_settings(params: Params, values: dict[str, Any]) -> Params:
    """`params` with each dotted key of `values` set; invalid ones raise ValidationError."""
    raw = params.model_dump(mode="json", by_alias=True)
    for key, value in values.items():
        node, last = dotted(raw, key)
        node[last] = value
    return Params.model_validate(raw)


def dotted(tree: dict[str, Any], key: str, create: bool = False) -> tuple[dict[str, Any], str]:
    """The mapping in nested `tree` that holds dotted `key`'s last part, and that part;
    `create` makes the mappings on the way that are missing."""
    *parents, last = key.split(".")
    for part in parents:
        tree = tree.setdefault(part, {}) if create else tree[part]
    return tree, last


def _dimension(key: str, entry: SearchRange, params: Params) -> Dimension:
    where = f"tune.space: {key}"
    leaves = train_settings()
    if key not in leaves:
        if not key.startswith("train."):
            raise DoclstmError(
                f"{where}: only train.* settings are searched; trials reuse the tokens, "
                "the teacher and the encoder as they are and train only"
            )
        close = difflib.get_close_matches(key, list(leaves), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise DoclstmError(f"{where}: no such setting{hint}")
    if key in FIXED:
        raise DoclstmError(f"{where}: not searched: {FIXED[key]}")
    kind = leaves[key]
    if entry.choices is not None:
        odd = [c for c in entry.choices if not isinstance(c, CHOICE_TYPES)]
        if odd:
            raise DoclstmError(f"{where}: choices are plain values, not {odd[0]!r}")
        values = [("choice", c) for c in entry.choices]
        kind = "choice"
    else:
        if kind == "choice":
            raise DoclstmError(f"{where}: not a number: give choices: [...], not low and high")
        assert entry.low is not None and entry.high is not None
        ends = (entry.low, entry.high, *((entry.step,) if entry.step else ()))
        if kind == "int" and not all(float(v).is_integer() for v in ends):
            raise DoclstmError(f"{where}: an int setting: low, high and step must be integers")
        cast = int if kind == "int" else float
        values = [("low", cast(entry.low)), ("high", cast(entry.high))]
    check = _field_check(key)
    for name, value in values:
        try:
            check.validate_python(value)
        except ValidationError as exc:
            reason = "; ".join(e["msg"] for e in exc.errors())
            raise DoclstmError(f"{where}: {name} {value!r} is out of bounds: {reason}") from None
    return Dimension(key, entry, kind)


def _field_check(key: str) -> TypeAdapter[Any]:
    """The validator of one setting's own values: its type and bounds. Checks across
    settings (chunk_stride within chunk_tokens) are each trial's: a combination they
    refuse fails that trial, with the reason, and the search goes on."""
    model: type[BaseModel] = Params
    *parents, last = key.split(".")
    for part in parents:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    field = model.model_fields[last]
    if not field.metadata:  # a plain type (a Literal of words): nothing to annotate
        return TypeAdapter(field.annotation)  # type: ignore[arg-type]
    return TypeAdapter(Annotated[field.annotation, *field.metadata])  # type: ignore[arg-type]


def train_settings() -> dict[str, Kind]:
    """Every train.* setting's dotted key and the kind of value a range of it gives."""
    return dict(_leaves(TrainParams, "train."))


def _leaves(model: type[BaseModel], prefix: str) -> typing.Iterator[tuple[str, Kind]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, f"{key}.")
        else:
            yield key, _kind(annotation)


def _kind(annotation: Any) -> Kind:
    """int for an int setting, float for one that takes a float (alone or beside a word,
    like rnn_share's `auto`), anything else only from choices."""
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [
            typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
            for a in typing.get_args(annotation)
        ]
        if float in members:
            return "float"
    return "choice"
