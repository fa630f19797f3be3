"""`doclstm inspect tokens`: a tokens folder as a person reads it, in the terminal.

A table of each split (documents, tokens, shards, documents over max_tokens,
truncated, tokens cut) from `data/tokens/manifest.json`, then per split a bar chart
of the document lengths before the cut at `tokenize.max_tokens`, with the count that
remains in each bucket after it, from the shards themselves
(`doclstm.text.histogram.shard_lengths`, polars). With `verify`, each listed file's
checksum is checked first, and a broken shard is left out of the charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import data_parts
from doclstm.text.histogram import BUCKETS, shard_lengths

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
    broken = manifest.broken_files(tokens_dir) if verify else {}
    for split in splits:
        files = [tokens_dir / n for n in data_parts(manifest, f"{split}/") if n not in broken]
        if files:
            _lengths(split, files, params.get("max_tokens"), console)
    if not verify:
        return True
    for name, why in sorted(broken.items()):
        console.print(f"[bold red]{tokens_dir / name}: {why}[/]", soft_wrap=True)
    if not broken:
        console.print(f"all {len(manifest.files)} files verify")
    return not broken


def _lengths(split: str, files: list[Path], max_tokens: int | None, console: Console) -> None:
    try:
        found = shard_lengths(files)
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        console.print(
            f"[bold red]{split}: cannot read its shards ({first}); `--verify` names a corrupt "
            "one, `doclstm stage tokenize` writes them again[/]",
            soft_wrap=True,
        )
        return
    full, stored = found["full"]["histogram"], found["stored"]["histogram"]
    used = [i for i, key in enumerate(BUCKETS) if full[key] or stored[key]]
    if not used:
        return
    top = max(full.values())
    quantiles = ", ".join(
        f"p{float(q) * 100:g} {n:,}" for q, n in found["full"]["quantiles"].items()
    )
    console.print(
        f"[bold]{split}[/] document lengths in tokens, before the cut ({quantiles}); "
        f"{found['cut']:,} of {sum(full.values()):,} cut to tokenize.max_tokens {max_tokens}"
    )
    console.print(
        f"  {'tokens':>11} {'documents before the cut':<{BAR_WIDTH}} {'before':>7} {'after':>7}"
    )
    for i in range(used[0], used[-1] + 1):
        key = BUCKETS[i]
        bar = "█" * round(BAR_WIDTH * full[key] / top)
        console.print(f"  {key:>11} {bar:<{BAR_WIDTH}} {full[key]:>7,} {stored[key]:>7,}")
