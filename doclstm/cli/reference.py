"""The reference of every command, generated from the command line itself.

`command_markdown` walks the `doclstm` command (typer's click group) and writes, for
each command and subcommand, its usage line, its help and a table of its arguments
and options with their help, as `--help` prints them: the docs site renders it
(docs/hooks.py), so the reference is the command line and cannot drift from it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import typer

from doclstm.cli.commands import app

MARKUP = re.compile(r"\[/?(bold|italic|dim|yellow|red|green|cyan|b|i)\]")


def command_paths() -> list[str]:
    """Every command as typed after `doclstm` ("score", "inspect tokens", ...)."""
    return [" ".join(path) for path, _, _ in _walk()]


def command_markdown() -> str:
    lines: list[str] = []
    for path, command, ctx in _walk():
        name = " ".join(path)
        usage = " ".join(["doclstm", *path, *command.collect_usage_pieces(ctx)])
        lines += ["", f"## `doclstm {name}`", "", "```", usage, "```", ""]
        text = MARKUP.sub("", inspect.cleandoc(command.help or ""))
        lines += [text.replace("\b\n", ""), ""]
        records = [_record(p, ctx) for p in command.params]
        rows = [r for r in records if r is not None]
        if rows:
            lines += ["| argument or option | what |", "|---|---|"]
            for flags, help_text in rows:
                cell = MARKUP.sub("", help_text).replace("|", "\\|")
                lines.append(f"| `{flags}` | {cell} |")
            lines.append("")
    return "\n".join(lines).lstrip() + "\n"


def _record(param: Any, ctx: Any) -> tuple[str, str] | None:
    """An option's flags and help as --help shows them; an argument's name and help."""
    found = param.get_help_record(ctx)
    if found is None and param.param_type_name == "argument" and not param.hidden:
        return param.name.upper(), getattr(param, "help", None) or ""
    return found


def _walk() -> Iterator[tuple[list[str], Any, Any]]:
    """(path, command, its context) for each command; typer carries its own click, whose
    commands and contexts are read by their interface."""
    root = typer.main.get_command(app)
    top = root.context_class(root, info_name="doclstm")

    def visit(group: Any, ctx: Any, path: list[str]) -> Iterator[tuple[list[str], Any, Any]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            sub = command.context_class(command, info_name=name, parent=ctx)
            if hasattr(command, "list_commands"):  # a group
                yield from visit(command, sub, [*path, name])
            else:
                yield [*path, name], command, sub

    yield from visit(root, top, [])
