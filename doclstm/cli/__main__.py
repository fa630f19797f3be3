"""`python -m doclstm.cli`: the `doclstm` command (torchrun and the tests start it so)."""

from doclstm.cli.commands import main

main()
