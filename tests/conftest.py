"""Shared fixtures: a small real slice of the built-in BBC News corpus, and tiny settings."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from doclstm.config.params import Params, SourceParams, load_params
from doclstm.sources.resolve import resolve_source
from doclstm.storage.manifest import StageManifest, file_entry

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# pytest-xdist workers share the cores: each takes its part for torch's thread pool (and
# the processes the tests start inherit it), instead of every worker spinning one thread
# per core of the machine.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_threads))

DOCS_PER_LABEL = 60
# The shipped settings (the typed defaults, which equal params.yaml), scaled down only
# where this says why; the real code paths still run: a real tokenizer, a real BiLSTM
# with its token bag, real MLflow.
TINY = [
    # 300 documents: a vocabulary, documents and a network sized to them, so a whole
    # pipeline runs in seconds, not the minutes of the 2,225-article corpus.
    "tokenize.model=wordpiece",  # trained: MiniLM's 30,522 pieces are far too many here
    "tokenize.vocab_size=2000",
    "tokenize.max_tokens=128",
    "tokenize.shard_tokens=8000",  # several shards from 300 documents
    "train.model.embedding_dim=32",
    "train.model.hidden_size=32",
    "train.epochs=2",
    "train.model.bag_buckets=4096",  # 2,000 tokens' n-grams need far fewer rows
    # Distilling MiniLM vectors costs about a minute of CPU per tokenizer; the tests of
    # the init (test_token_vectors.py) set it back to minilm.
    "train.model.embedding_init=random",
    "train.batch_tokens=4096",  # several steps an epoch from 240 training documents
    "train.loader_workers=0",  # the flow and resume tests run loader workers
    # A 2-epoch model of 300 documents must still pass the gate for the tests to score
    # with it; the gate's own tests set their thresholds.
    "gate.min_accuracy=0.0",
    "gate.min_macro_f1=0.0",
    "gate.min_micro_f1=0.0",
    "score.docs_per_shard=70",  # several output shards from 300 documents
]
# The stages and flows end to end (tests/tasks, tests/flows): `make test-fast` leaves them
# to `make test`, with the tests marked slow, and runs the units and property tests.
STAGE_TESTS = ("tasks", "flows")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        if item.path.relative_to(tests).parts[0] in STAGE_TESTS:
            item.add_marker(pytest.mark.stage)
    # The modules that hold a slow test run first, each whole. pytest-xdist's worksteal
    # hands the first half of this order to one worker and steals only from the ends of
    # queues, so such a module's fixtures (a fine-tuned teacher: a minute) are built by
    # one worker, not by both, and the long tests do not trail at the end of the run.
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session")
def bbc_root() -> Path:
    return resolve_source(SourceParams(path="builtin:bbcnews"), Path(".")).path


@pytest.fixture(scope="session")
def small_corpus(bbc_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first DOCS_PER_LABEL articles of every BBC News topic, as a label-folder source."""
    root = tmp_path_factory.mktemp("bbc_small")
    for label_dir in sorted(p for p in bbc_root.iterdir() if p.is_dir()):
        (root / label_dir.name).mkdir()
        for path in sorted(label_dir.glob("*.txt"))[:DOCS_PER_LABEL]:
            shutil.copyfile(path, root / label_dir.name / path.name)
    return root


def tiny_params(workspace: Path, corpus: Path, *extra: str) -> Params:
    return load_params(
        None,
        [
            f"base.workspace={workspace}",
            f"ingest.source={corpus}",
            f"score.input={corpus}",
            *TINY,
            *extra,
        ],
    )


def tokens_workspace(root: Path, built: Path, corpus: Path, *extra: str) -> Params:
    """Tiny params for a new workspace at `root` that starts from `built`'s tokens."""
    shutil.copytree(built / "data/tokens", root / "data/tokens")
    return tiny_params(root, corpus, *extra)


def stage_fixture(stage: str, *extra: str) -> Any:
    """A module fixture: the params of a workspace that starts from `built_workspace`'s
    tokens, with `extra` settings, in which `stage` has run once."""

    @pytest.fixture(scope="module")
    def ran(
        built_workspace: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Params:
        from doclstm.tasks.table import run_stage

        root = tmp_path_factory.mktemp(stage)
        params = tokens_workspace(root, built_workspace, small_corpus, *extra)
        run_stage(stage, params)
        return params

    return ran


def registered_fixture(name: str) -> Any:
    """A module fixture: a copy of `built_workspace` in which register and then gate have
    run (`name` names its folder)."""

    @pytest.fixture(scope="module")
    def registered(
        built_workspace: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Path:
        from doclstm.tasks.table import run_stage

        workspace = tmp_path_factory.mktemp(name)
        shutil.copytree(built_workspace, workspace, dirs_exist_ok=True)
        run_stage("register", tiny_params(workspace, small_corpus))
        run_stage("gate", tiny_params(workspace, small_corpus))  # TINY: thresholds 0
        return workspace

    return registered


@pytest.fixture(scope="session")
def built_workspace(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where ingest..evaluate have run once on the small corpus."""
    from doclstm.tasks.table import run_stage

    workspace = tmp_path_factory.mktemp("workspace")
    params = tiny_params(workspace, small_corpus)
    for name in ("ingest", "validate", "tokenize", "train", "evaluate"):
        run_stage(name, params)
    return workspace


IMDB_ARCHIVE = Path(__file__).resolve().parents[1] / "../shared/data/aclImdb_v1.tar.xz"


@pytest.fixture(scope="session")
def imdb_archive() -> Path:
    """The shared IMDB archive; tests that need it skip where it is absent."""
    if not IMDB_ARCHIVE.is_file():
        pytest.skip(f"{IMDB_ARCHIVE} is absent (only development machines and CI have it)")
    return IMDB_ARCHIVE.resolve()


@pytest.fixture(scope="session")
def mlflow_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server process on loopback for the whole session."""
    from tests.local_servers import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow_server")) as uri:
        yield uri


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server (SQLite) shared by every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def permute_test_labels(tokens: Path) -> None:
    """The test split's labels shuffled in place, the manifest's checksums updated (its
    fingerprint, which stands for the validated data, stays)."""
    manifest = StageManifest.load(tokens)
    rng = np.random.default_rng(7)
    for name in [n for n in manifest.files if n.startswith("test/")]:
        table = pq.read_table(tokens / name)
        labels = table["label_id"].to_numpy()
        permuted = table.set_column(
            table.schema.get_field_index("label_id"),
            "label_id",
            [rng.permutation(labels).astype(labels.dtype)],
        )
        pq.write_table(permuted, tokens / name)
        manifest.files[name] = file_entry(
            tokens / name, manifest.files[name].rows, manifest.files[name].tokens
        )
    manifest.write(tokens)
