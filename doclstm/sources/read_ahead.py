"""Read a source in a child process, so that unpacking overlaps ingesting.

Reading a .tar.xz is decompression plus tarfile's pure-Python header
parsing: about 6 s for IMDB's 100k members on one core, as long again as
the decoding, hashing and Parquet writing that follow. A reader process
keeps a second core busy with the first half (benchmarks/ingest.py has the
numbers). The child is `python -m doclstm.sources.read_ahead`, not a
multiprocessing child, so it never re-imports the caller's script.
Documents travel in batches over a pipe; a full pipe blocks the reader, so
memory stays bounded whatever the size of the source. An error in the
reader (a truncated archive) is raised again here, and a reader that dies
is reported, not waited for.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Iterator
from typing import IO, Any

from doclstm.errors import DoclstmError
from doclstm.sources.archive_members import ReadLimits
from doclstm.sources.documents import RawDocument
from doclstm.sources.resolve import ResolvedSource, iter_documents

BATCH_DOCS = 512
BATCH_BYTES = 4 * 2**20


def read_ahead(
    source: ResolvedSource, limits: ReadLimits, batch_rows: int
) -> Iterator[RawDocument]:
    """The documents of `iter_documents(source, ...)`, read by a child process."""
    reader = subprocess.Popen(
        [sys.executable, "-m", "doclstm.sources.read_ahead"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert reader.stdin is not None and reader.stdout is not None, "both are pipes"
    try:
        with reader.stdin:
            pickle.dump((source, limits, batch_rows), reader.stdin)
        while True:
            try:
                kind, payload = pickle.load(reader.stdout)
            except EOFError:
                raise DoclstmError(
                    f"source {source.name}: the reader process died (exit code "
                    f"{reader.wait()}); see the messages above, or rerun the stage"
                ) from None
            if kind == "end":
                break
            if kind == "error":
                raise payload
            for fields in payload:
                yield RawDocument(*fields)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.stdout.close()
        reader.wait()


def _produce(out: IO[bytes]) -> None:
    source, limits, batch_rows = pickle.load(sys.stdin.buffer)
    batch: list[tuple[Any, ...]] = []
    size = 0
    try:
        for doc in iter_documents(source, limits, batch_rows):
            batch.append(
                (doc.doc_id, doc.data, doc.label, doc.source_split, doc.refused, doc.labels)
            )
            size += len(doc.data)
            if len(batch) >= BATCH_DOCS or size >= BATCH_BYTES:
                pickle.dump(("docs", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
                batch, size = [], 0
        pickle.dump(("docs", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(("end", None), out)
    except DoclstmError as exc:  # raised again by the parent where it reads
        pickle.dump(("error", exc), out)
    except Exception:  # a bug: the parent raises it with the reader's traceback
        failure = RuntimeError(f"reader of {source.name} failed:\n{traceback.format_exc()}")
        pickle.dump(("error", failure), out)
    out.flush()


if __name__ == "__main__":
    # The reader makes no reference cycles; collecting would only rescan its buffers.
    gc.disable()
    # The pipe to the parent is a private copy of stdout; anything a library prints
    # goes to stderr instead of corrupting the stream.
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as pipe:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        _produce(pipe)
