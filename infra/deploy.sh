#!/bin/sh
# The work pool, the gpu concurrency limit and the deployments of infra/prefect.yaml, on
# the Prefect server at $PREFECT_API_URL. Safe to run again.
#   DOCLSTM_HOME         the checkout the worker runs flows from (default: this repo)
#   MLFLOW_TRACKING_URI  the MLflow server the flows log to (empty: SQLite in the workspace)
#   DOCLSTM_WORKSPACE    where data/, models/, reports/ live on the worker (default: DOCLSTM_HOME)
#   DOCLSTM_POOL         the work pool (default: doclstm)
#   DOCLSTM_PARAMS_FILE  the params file the flows load, relative to DOCLSTM_HOME (default: params.yaml)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
export DOCLSTM_HOME="${DOCLSTM_HOME:-$here}"
cd "$DOCLSTM_HOME"
export DOCLSTM_POOL="${DOCLSTM_POOL:-doclstm}"
export DOCLSTM_PARAMS_FILE="${DOCLSTM_PARAMS_FILE:-params.yaml}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-}"
export DOCLSTM_WORKSPACE="${DOCLSTM_WORKSPACE:-.}"

prefect work-pool create "$DOCLSTM_POOL" --type process --overwrite
# Tag limit: at most one task tagged gpu (the train task) runs at a time on this server.
prefect concurrency-limit create gpu 1
# One process deploys them all: the flows' imports (torch, MLflow, Great Expectations)
# are paid once, and prefect.yaml reads the pool and the parameters from the variables.
prefect deploy --prefect-file infra/prefect.yaml --all
