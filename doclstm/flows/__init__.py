"""The Prefect flows: they compose the stages' tasks (made from the stage table of
`tasks` in `stage_tasks`), publish what a run did as artifacts (`artifacts`), and
nothing else: no data loops, file I/O or metric arithmetic. They use the library
(`config`, `storage`, `scoring`, `registry`, ...), the stages and the search of
`tuning` (the `tune` flow); only the command line imports them, and a Prefect
deployment (infra/prefect.yaml) runs them.
"""
