"""The one place a flow turns a params file into `Params`: at the deployment's edge.

A deployment (infra/prefect.yaml) starts a flow with `params`, a params file name, and
`overrides`; the flow parses them here, once, and hands the typed `Params` to the flows
it calls, which then parse nothing. The CLI parses before it calls a flow.
"""

from __future__ import annotations

from pathlib import Path

from doclstm.config.params import Params, load_params
from doclstm.errors import DoclstmError


def flow_params(params: Params | str, overrides: list[str] | None) -> Params:
    """`params` as given when typed, else the file it names with `overrides` applied."""
    if isinstance(params, Params):
        if overrides:
            raise DoclstmError("overrides apply to a params file, not to typed Params")
        return params
    return load_params(Path(params), overrides or [])
