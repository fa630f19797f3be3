"""Two settings compared on the quality benchmark's corpora, chosen by mean val accuracy.

Reads the `--json` files of two `benchmarks.quality` runs (one corpus or several
each; a corpus in only one is left out) and prints, per corpus, the val and
test accuracy of the model and of its RNN alone under A and under B, their
means over the corpora both hold, B's mean over A's, and which one the rule
the shipped defaults follow picks: the higher mean val accuracy of the model.
Test is printed beside it, never used to pick.

    .venv/bin/python -m benchmarks.quality ... --corpus NAME --json a-NAME.json
    .venv/bin/python -m benchmarks.quality ... --corpus NAME --json b-NAME.json \\
        --set tokenize.model=wordpiece
    .venv/bin/python -m benchmarks.compare_quality --a a-*.json --b b-*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean
from typing import Any

# (column, how to read it from a corpus's result in benchmarks.quality's JSON)
FIGURES = {
    "val": lambda r: r["doclstm"]["val_accuracy"],
    "RNN alone val": lambda r: r["val_accuracy_by_rnn_share"]["1"],
    "test": lambda r: r["doclstm"]["accuracy"],
    "RNN alone test": lambda r: r["experts"]["rnn"],
}


def by_corpus(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Each corpus's result in the files, the later file's where two hold one."""
    results: dict[str, dict[str, Any]] = {}
    for path in paths:
        for result in json.loads(path.read_text(encoding="utf-8")):
            results[result["corpus"]] = result
    return results


def compare(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    corpora = sorted(set(a) & set(b))
    if not corpora:
        raise SystemExit("no corpus is in both A and B")
    rows = {
        corpus: {name: (read(a[corpus]), read(b[corpus])) for name, read in FIGURES.items()}
        for corpus in corpora
    }
    means = {
        name: (mean(rows[c][name][0] for c in corpora), mean(rows[c][name][1] for c in corpora))
        for name in FIGURES
    }
    picked = "B" if means["val"][1] > means["val"][0] else "A"  # a tie keeps A
    return {"corpora": corpora, "rows": rows, "means": means, "picked": picked}


def table(result: dict[str, Any]) -> str:
    names = list(FIGURES)
    lines = [
        "| corpus | " + " | ".join(f"{n} A / B" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for corpus in result["corpora"]:
        cells = [f"{a:.4f} / {b:.4f}" for a, b in result["rows"][corpus].values()]
        lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    cells = [f"**{a:.4f} / {b:.4f}** ({b / a:.4f}x)" for a, b in result["means"].values()]
    lines.append("| mean | " + " | ".join(cells) + " |")
    lines.append(f"\npicked by mean val accuracy: {result['picked']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, nargs="+", required=True, help="quality JSONs of A")
    parser.add_argument("--b", type=Path, nargs="+", required=True, help="quality JSONs of B")
    args = parser.parse_args()
    print(table(compare(by_corpus(args.a), by_corpus(args.b))))


if __name__ == "__main__":
    main()
