"""The pipeline stages: each module holds a plain stage function and its Prefect task."""
