#!/bin/sh
# The buckets of MLflow's artifacts and the DVC remote, and the user `doclstm` whose
# policy (doclstm-policy.json) covers those two buckets only. Safe to run again.
set -eu
here=$(dirname "$0")
mc alias set store http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing store/mlflow store/dvc
mc admin policy create store doclstm "$here/doclstm-policy.json"
mc admin user add store doclstm "$MINIO_DOCLSTM_PASSWORD"
# Attaching fails when a previous run attached the policy already: then it must be there.
if ! mc admin policy attach store doclstm --user doclstm; then
    mc admin policy entities store --user doclstm | grep -qw doclstm
fi
