"""Configuration, read once at the edge: the typed `Params` loaded from params.yaml with
`--set` overrides (`params`), the workspace and the path of every contract in it
(`workspace`), the lock that keeps two runs out of one workspace (`workspace_lock`),
and where MLflow tracks (`tracking`). Imports only `errors` and `storage`: never a
stage (`doclstm.tasks`) or a flow.
"""
