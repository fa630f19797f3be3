"""`doclstm tune`: train.* settings searched on val with Optuna, built on the stages
(`tasks`: the stages before train, then the train stage's function a trial) and the
library; only the flows and the command line import it.

`space` reads and checks the search space against the params schema before any trial;
`study` keeps the Optuna study in SQLite under the workspace (`studies/<name>/`), so a
killed search resumes; `trial` trains one trial as the train stage would, reporting each
epoch's val metric to the pruner; `study_run` is the study's MLflow run with one nested
run a trial and the plots; `tuned_file` writes the best settings as a params file;
`search` runs it all (what the CLI, the Prefect flow and tuning/dvc.yaml call).
"""
