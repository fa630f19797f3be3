"""`doclstm inspect tokens`: the tokenize manifest as a person reads it, in the terminal.

A table of each split (documents, tokens, shards, documents over
max_tokens, truncated, tokens cut) and a bar chart of the length histogram
per split, from `data/tokens/manifest.json`; with `verify`, each listed
file's checksum too.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from doclstm.storage.manifest import StageManifest
from doclstm.text.histogram import EDGES

BAR_WIDTH = 40


def print_token_report(tokens_dir: Path, console: Console, verify: bool = False) -> bool:
    """Print the report; False when `verify` found a missing or corrupt file."""
    manifest = StageManifest.load(tokens_dir)
    summary = manifest.summary
    params = summary.get("params", {})
    console.print(f"[bold]{tokens_dir}[/]  tokenizer sha256 {summary['tokenizer_sha256'][:16]}")
    console.print(
        f"model {params.get('model')}  vocab {summary['vocab_size']:,}  "
        f"max_tokens {params.get('max_tokens')}  truncation {params.get('truncation')}  "
        f"labels {', '.join(summary['labels'])}"
    )
    splits: dict[str, Any] = summary["splits"]
    table = Table(title="splits")
    columns = ("documents", "tokens", "shards", "over_max_tokens", "truncated", "tokens_cut")
    table.add_column("split")
    for name in columns:
        table.add_column(name.replace("_", " "), justify="right")
    for split, stats in splits.items():
        table.add_row(split, *(f"{stats.get(name, 0):,}" for name in columns))
    console.print(table)
    for split, stats in splits.items():
        _histogram(split, stats["length_histogram"], console)
    if not verify:
        return True
    broken = manifest.broken_files(tokens_dir)
    for name, why in sorted(broken.items()):
        console.print(f"[bold red]{tokens_dir / name}: {why}[/]", soft_wrap=True)
    if not broken:
        console.print(f"all {len(manifest.files)} files verify")
    return not broken


def _histogram(split: str, histogram: dict[str, int], console: Console) -> None:
    keys = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(EDGES)] + [f"{EDGES[-1]}+"]
    counts = [histogram.get(key, 0) for key in keys]
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return
    top = max(counts)
    console.print(f"[bold]{split}[/] document lengths (tokens)")
    for i in range(used[0], used[-1] + 1):
        bar = "█" * round(BAR_WIDTH * counts[i] / top)
        console.print(f"  {keys[i]:>11} {bar:<{BAR_WIDTH}} {counts[i]:,}")
