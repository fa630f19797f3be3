"""score: predict labels for every document of a source, exactly once per output folder.

Each model version scores into its own folder, `<score.output>/<model name>/<version>/`
(doclstm/scoring/job.py, which also locks it while it is scored, so exactly once holds
between scorers started together from different workspaces or machines). The source is
read in order and cut into input shards of `score.docs_per_shard` documents; shard N
becomes `part-NNNNN.parquet`, written atomically and followed by its completion marker
`_done/part-NNNNN.json` (doclstm/scoring/shards.py). A rerun skips every shard whose
marker and output verify, so a crash resumes at the first unfinished shard. Documents
that cannot be scored (empty, refused by the reader) get a row with a null label and
the reason (doclstm/scoring/rows.py). Documents over the model's window are read whole
in windows carrying the recurrent state when the model is unidirectional and
`score.long_documents` is `window`, else truncated as in training; `long_document` says
which, and the markers and the result count both. `score.precision` bf16 runs the model
under bf16 autocast. `force` rescoring starts the folder over. Every run ends with
the folder's drift report, `_drift/drift.json` and `drift.png`, against the model's
training profile (doclstm/scoring/drift.py; thresholds `score.drift.*`).

SRC is any ingest source, or a dataset the pipeline wrote (`data/ingested`,
`data/validated`), read with its own doc_ids.

Two ways to run, same rows out. `score_documents` (doclstm/scoring/inline.py, plain
Python, which `doclstm score` calls without importing Prefect) reads and scores in one
process, shard after shard: least overhead on one machine. flows/score.py stages the
input shards and fans them out as `score-shard` Prefect tasks (threads or Ray).

Run: `doclstm score --model models:/<name>@champion --input SRC --output DIR`.
"""

from __future__ import annotations

from prefect import task

from doclstm.pipeline.retry_policy import io_retry_options
from doclstm.scoring.inline import score_documents
from doclstm.scoring.shards import score_input_shard

__all__ = ["score", "score_documents", "score_shard"]


score = task(name="score", **io_retry_options())(score_documents)
score_shard = task(name="score-shard", **io_retry_options())(score_input_shard)
