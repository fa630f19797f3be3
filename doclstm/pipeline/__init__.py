"""The plumbing every stage shares: the typed `Params` loaded once from params.yaml,
the workspace and the path of every contract in it, the workspace lock, where MLflow
tracks (`tracking`; `mlflow_sqlite`: a local store's metrics written without MLflow's
import), each stage's arguments as a named record (`stages`), which failures are worth
a retry, and how log lines and progress bars put what a stage did (`log_text`,
`progress`). Imports only `errors` and `storage`: never a stage (tasks/)
or a flow.
"""
