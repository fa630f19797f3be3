"""The command-line edge: the `doclstm` command, and the only part of the library that
imports the stages (`tasks`), the search (`tuning`) and the flows (`flows`).

It parses params.yaml and `--set` once into the typed `Params` and hands that on; a
stage runs through the stage table (doclstm/tasks/table.py); `token_report` prints
`doclstm inspect tokens`. Nothing else in doclstm/ imports this package.
"""

from doclstm.cli.commands import main

__all__ = ["main"]
