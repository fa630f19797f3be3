"""doclstm: recurrent document classifiers as a batch pipeline.

The library the stages share, a subpackage per concern (storage, pipeline, sources,
text, models, training, evaluation, scoring, registry) and the command line (cli);
each subpackage's docstring says what it owns and what it may import. `errors` is
the one module every package shares. Nothing here runs at import.
"""

__version__ = "0.1.0"
