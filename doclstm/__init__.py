"""doclstm: recurrent document classifiers as a batch pipeline.

The library, a subpackage per concern (storage, config, console, sources, text,
models, training, evaluation, scoring, registry); the stages built on it (tasks, one
module per stage, and the stage table); the Prefect flows that compose the stages
(flows); and the command line (cli). Each subpackage's docstring says what it owns and
what it may import. `errors` is the one module every package shares. Nothing here runs
at import.
"""

__version__ = "0.1.0"
