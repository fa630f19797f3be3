from doclstm.console.log_text import counted, figures, reasons_note
from doclstm.models.config import ModelConfig


def test_reasons_read_as_words_largest_first_and_nothing_when_none() -> None:
    counts = {"leakage: same text as a train document": 1, "empty text": 2, "too long": 0}
    assert reasons_note(counts) == " (2 empty text, 1 leakage: same text as a train document)"
    assert reasons_note({}) == reasons_note({"empty text": 0}) == ""
    assert reasons_note({"b": 1200, "a": 1200}) == " (1,200 a, 1,200 b)"


def test_a_model_is_described_in_words_not_as_its_dataclass() -> None:
    flat = ModelConfig.build(8000, 5, bidirectional=True, num_layers=2, bag_buckets=262144)
    text = flat.describe()
    assert text.startswith(f"2-layer bidirectional {flat.cell} {flat.hidden_size}, ")
    assert text.endswith(", bag 262,144; 5 labels") and "ModelConfig" not in text
    windows = ModelConfig.build(8000, 2, kind="hierarchical", chunk_tokens=200, bag_buckets=0)
    assert windows.describe().startswith(f"hierarchical ({windows.chunk_encoder} windows of 200)")
    assert "bag" not in windows.describe()


def test_settings_tried_read_as_pairs_in_their_order() -> None:
    assert figures({"1": 0.95, "64": 0.96125, "4": 1.0}) == "1 0.9500, 64 0.9613, 4 1.0000"
    assert figures({}) == ""


def test_counts_take_the_plural_unless_one() -> None:
    assert [counted(n, "shard") for n in (0, 1, 2, 1200)] == [
        "0 shards",
        "1 shard",
        "2 shards",
        "1,200 shards",
    ]
