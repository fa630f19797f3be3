"""doclstm: recurrent document classifiers as a batch pipeline.

The library the stages share: typed params, shard I/O, tokenizer, model,
batching, metrics and the command line. Nothing here runs at import.
"""

__version__ = "0.1.0"
