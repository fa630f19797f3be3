"""Layout inference: which folder is the root, and which levels are splits and labels."""

from doclstm.sources.label_folders import LabelLayout, Placement, infer_layout


def _parts(*paths: str) -> list[tuple[str, ...]]:
    return [tuple(p.split("/")) for p in paths]


def test_aclimdb_order_strays_first_is_a_split_layout_under_its_wrapper() -> None:
    # The real member order of aclImdb_v1.tar.xz: a stray file before the documents.
    sample = _parts(
        "aclImdb/imdb.vocab",
        "aclImdb/test/neg/1_2.txt",
        "aclImdb/test/neg/2_3.txt",
        "aclImdb/train/unsup/3_0.txt",
    )
    layout = infer_layout(sample)
    assert layout == LabelLayout(("aclImdb",), "splits")
    assert layout.place(("aclImdb", "test", "neg", "1_2.txt")) == Placement(
        "test/neg/1_2.txt", "neg", "test"
    )
    assert layout.place(("aclImdb", "train", "unsup", "3_0.txt")) == Placement(
        "train/unsup/3_0.txt", None, "train"
    )
    assert str(layout.place(("aclImdb", "README"))).startswith("outside the layout")
    assert str(layout.place(("aclImdb", "extra", "neg", "x.txt"))).startswith("outside the layout")


def test_label_folders_at_the_top_and_under_a_wrapper_give_the_same_ids() -> None:
    flat = infer_layout(_parts("business/1.txt", "tech/2.txt", "tech/3.txt"))
    wrapped = infer_layout(_parts("bbc/business/1.txt", "bbc/tech/2.txt", "bbc/README"))
    assert flat == LabelLayout((), "labels")
    assert wrapped == LabelLayout(("bbc",), "labels")
    assert flat.place(("tech", "2.txt")) == wrapped.place(("bbc", "tech", "2.txt"))


def test_loose_files_are_unlabelled_documents() -> None:
    layout = infer_layout(_parts("a.txt", "b.txt"))
    assert layout == LabelLayout((), "files")
    assert layout.place(("a.txt",)) == Placement("a.txt", None, None)


def test_pinned_root_and_kind_win_over_the_sample() -> None:
    sample = _parts("x/pos/1.txt", "x/neg/2.txt", "y/pos/3.txt", "y/neg/4.txt", "x/neg/5.txt")
    assert infer_layout(sample).root == ("x",)  # the most common wrapper
    pinned = infer_layout(sample, root="y")
    assert pinned == LabelLayout(("y",), "labels")
    assert str(pinned.place(("x", "pos", "1.txt"))).startswith("outside the layout")
    assert infer_layout(sample, root="y/pos", kind="files").place(("y", "pos", "3.txt")) == (
        Placement("3.txt", None, None)
    )
