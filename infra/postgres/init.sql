-- One Postgres for both servers: MLflow's tracking and registry store, Prefect's database.
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
