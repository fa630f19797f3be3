"""The command-line edge: the `doclstm` command, and the only part of doclstm/ that
imports the stage modules (tasks/) and the flows (flows/).

It parses params.yaml and `--set` once into the typed `Params` and hands that on;
`stage_runner` maps stage names to their functions; `token_report` prints
`doclstm inspect tokens`. Nothing else in doclstm/ imports this package.
"""

from doclstm.cli.commands import main

__all__ = ["main"]
