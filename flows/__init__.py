"""Prefect flows: they compose the stage tasks and nothing else."""
