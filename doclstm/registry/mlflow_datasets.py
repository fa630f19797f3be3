"""The token splits as MLflow datasets of the active run: what a run was trained and
tested on, on the run page's Datasets panel, and the same dataset whenever the data is."""

from __future__ import annotations

from pathlib import Path

import mlflow
import polars as pl
from mlflow.data.pandas_dataset import from_pandas

from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import data_parts


def log_split_datasets(tokens_dir: Path, manifest: StageManifest, model_name: str) -> None:
    """The train, val and test splits of `tokens_dir` (whose `manifest` the caller read)
    as MLflow datasets of the active run (the run page's Datasets), one row a document
    (doc_id, label, or with several labels a document `labels`, tokens before the cut),
    with the tokens fingerprint as their digest: the same data gives the same dataset in
    every run."""
    labels = pl.Series(manifest.summary["labels"])
    names = dict(enumerate(manifest.summary["labels"]))
    multi = manifest.summary.get("task") == "multi"  # several labels a document: a list
    for split, context in (("train", "training"), ("val", "validation"), ("test", "testing")):
        parts = [tokens_dir / name for name in data_parts(manifest, f"{split}/")]
        if not parts:
            continue
        frame = (
            pl.scan_parquet(parts)
            .select("doc_id", "label_ids" if multi else "label_id", "full_length")
            .rename({"full_length": "tokens"})
            .collect()
        )
        if multi:
            each = pl.element().replace_strict(names, return_dtype=pl.String)
            frame = frame.with_columns(labels=pl.col("label_ids").list.eval(each))
            frame = frame.drop("label_ids")
        else:
            frame = frame.with_columns(label=labels.gather(frame["label_id"])).drop("label_id")
        dataset = from_pandas(
            frame.to_pandas(),
            source=str(tokens_dir.resolve() / split),
            targets="labels" if multi else "label",
            name=f"{model_name}-{split}",
            digest=manifest.fingerprint[:36],
        )
        # MLflow keeps 36 characters of a digest; the whole fingerprint is the input's tag.
        tags = {"doclstm.tokens_fingerprint": manifest.fingerprint}
        mlflow.log_input(dataset, context=context, tags=tags)
