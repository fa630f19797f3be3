"""The command-line arguments the benchmarks share: the IMDB archive, a tokens folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The public aclImdb_v1.tar.gz (a .tar.xz of it reads the same): DOCLSTM_IMDB_ARCHIVE, or
# saved in the checkout, where profiles/imdb.yaml looks for it too.
IMDB_ARCHIVE = Path(os.environ.get("DOCLSTM_IMDB_ARCHIVE", REPO / "aclImdb_v1.tar.gz"))


def tokens_parser(doc: str, params: str = "profiles/imdb.yaml") -> argparse.ArgumentParser:
    """A parser with `--params` (default: `params` in the repository), `--tokens` (a tokens
    stage folder, required) and `--set`/`-s` overrides; its description is `doc`'s first line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / params)
    parser.add_argument("--tokens", type=Path, required=True, help="a tokens stage folder")
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    return parser
