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

Two ways to run, same rows out. `score_documents` reads and scores in one process, shard
after shard: least overhead on one machine (`doclstm score` calls it without importing
Prefect). doclstm/flows/score.py stages the input shards and fans them out as
`score-shard` Prefect tasks (threads or Ray). On a terminal a bar shows the documents
done, documents/s, and the time left where the source's size is cheap to know
(doclstm/sources/resolve.documents_hint).

Run: `doclstm score --model models:/<name>@champion --input SRC --output DIR`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from doclstm.config.params import ScoreParams
from doclstm.console.progress import ScoreProgress
from doclstm.scoring.job import predictor, score_job
from doclstm.scoring.shards import (
    ScoreResult,
    ShardDone,
    completed_shard,
    input_shards,
    summarize_score,
    write_output_shard,
)
from doclstm.sources.resolve import documents_hint


def score_documents(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
    metrics_in_background: bool = False,
) -> ScoreResult:
    """Score `params.input` with `params.model` into `params.output`, in this process."""
    with score_job(
        params, tracking, workspace_root, model_cache, force, metrics_in_background
    ) as job:
        bar = ScoreProgress(documents_hint(job.source))
        with bar:
            scorer = replace(predictor(job), on_batch=bar.advance)
            outcomes: list[ShardDone] = []
            for index, chunk in enumerate(input_shards(job)):
                done = completed_shard(job, index)
                if done is not None:
                    bar.advance(len(chunk), scored=False)
                else:
                    done = write_output_shard(job, index, chunk, scorer)
                    bar.advance(done.unscored)  # the scored ones advanced batch by batch
                outcomes.append(done)
        return summarize_score(job, outcomes)
