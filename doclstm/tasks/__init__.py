"""The stages: one module per stage (ingest, validate, tokenize, pretrain, teacher,
train, evaluate, register, gate, score), each holding its plain stage function and result
record, and the stage table (`table`) that lists them in order with their arguments,
Prefect task options, code and outputs. A stage uses the library (`config`,
`console`, `storage`, `sources`, `text`, `models`, `training`, `evaluation`,
`scoring`, `registry`) and never imports Prefect, a flow or the command line;
doclstm/flows/ and doclstm/cli/ run it.
"""
