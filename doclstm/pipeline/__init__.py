"""The plumbing every stage shares: the typed `Params` loaded once from params.yaml,
the workspace and the path of every contract in it, the workspace lock, where MLflow
tracks (`tracking`), each stage's arguments as a named record (`stages`), and which
failures are worth a retry. Imports only `errors` and `storage`: never a stage (tasks/)
or a flow.
"""
