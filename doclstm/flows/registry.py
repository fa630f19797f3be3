"""Prefect flow `record_decision`: a registry decision made by hand, as a markdown artifact.

`doclstm promote` and `doclstm rollback` change the registry with plain
functions (doclstm/registry/model_registry.py, which also tags the versions), then run this
flow so that a person's decision is recorded the same way as the gate's.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact


@flow(name="record_decision")
def record_decision(markdown: str, description: str) -> str:
    """Publish one decision; returns the artifact id."""
    return str(
        create_markdown_artifact(
            markdown=markdown, key="registry-decision", description=description
        )
    )
