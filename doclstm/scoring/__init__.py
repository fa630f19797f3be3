"""Raw text in, class probabilities out, for whole archives: the predictor that scoring,
the gate and the MLflow pyfunc share, the pyfunc itself (logged as code), resolving a
model reference (`models:/name@alias`, a version or a folder) to a verified local
folder, and the exactly-once protocol of a scoring job: its locked output folder, its
shards and their completion markers, the rows it writes, and the staged input shards
that let many processes score one archive, and the drift report of every score run.
May import `storage`, `config`, `console`, `sources`, `text`, `models` and
`evaluation` (plots).
"""
