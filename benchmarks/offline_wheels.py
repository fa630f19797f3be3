"""Wheels to run a benchmark on an offline GPU machine that brings its own torch.

GPU nodes are often cut off from package indexes and come with their own
CUDA build of torch, numpy and pyarrow, often on another Python than this
venv's. Installing the project there would replace that torch, so this
lists the distributions that running MODULE actually loads (at the versions
installed here, which are constraints.txt's pins), drops the ones the
machine already has, and downloads the rest as binary wheels for the
machine's Python and platform:

    .venv/bin/python -m benchmarks.offline_wheels benchmarks.pretrain \\
        --have have.txt --python-version 3.12 --dest .whl [-- ARGS...]

`have.txt` is what the machine has (`python3 -m pip list --format freeze`
there, or one name per line). With `--` (and its arguments) the module runs
here first, a tiny budget will do, so the modules it imports only while
running count too; without, only what importing it loads.
This project itself is not a wheel: run it from a copy of the repository.
On the machine:

    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site:. python3 -m benchmarks.pretrain --tokens W/data/tokens ...
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import re
import runpy
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

# The manylinux tags pip matches exactly; glibc 2.17 to 2.28 covers the CUDA images in use.
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28)] + [
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
PROJECT = "doclstm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the module to run there, e.g. benchmarks.pretrain")
    parser.add_argument("--have", type=Path, help="what the machine has: pip freeze or names")
    parser.add_argument("--python-version", default="3.12", help="the machine's Python")
    parser.add_argument("--dest", type=Path, default=Path(".whl"))
    parser.add_argument("--list", action="store_true", help="print the pins, download nothing")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    module_args = argv[split + 1 :] if split < len(argv) else None
    have = read_names(args.have.read_text().splitlines()) if args.have else set()

    before = set(sys.modules)
    load(args.module, module_args)
    pins = missing_pins(loaded_distributions(set(sys.modules) - before), have)
    for pin in pins:
        print(pin)
    if args.list or not pins:
        return
    args.dest.mkdir(parents=True, exist_ok=True)
    platforms = [flag for tag in PLATFORMS for flag in ("--platform", tag)]
    target = ["--python-version", args.python_version, "--implementation", "cp", *platforms]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*download, *target, "--dest", str(args.dest), *pins], check=True)


def load(module: str, module_args: list[str] | None) -> None:
    """Run `module` as `python -m module *module_args`, or only import it (None)."""
    if module_args is None:
        importlib.import_module(module)
        return
    argv, sys.argv = sys.argv, [module, *module_args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    finally:
        sys.argv = argv


def loaded_distributions(modules: Iterable[str]) -> dict[str, str]:
    """The installed distributions (name -> version) that provide these modules."""
    providers = metadata.packages_distributions()
    found: dict[str, str] = {}
    for top in {name.partition(".")[0] for name in modules}:
        for dist in providers.get(top, []):
            found[normalize(dist)] = metadata.version(dist)
    return found


def missing_pins(distributions: dict[str, str], have: set[str]) -> list[str]:
    """`name==version` for each distribution the machine lacks, the project left out."""
    return [
        f"{name}=={version}"
        for name, version in sorted(distributions.items())
        if name not in have and name != PROJECT
    ]


def read_names(lines: Iterable[str]) -> set[str]:
    """Distribution names from `pip list --format freeze` lines or bare names."""
    names = (re.split(r"[=<>!~ @;\[]", line.strip(), maxsplit=1)[0] for line in lines)
    return {normalize(name) for name in names if name and not name.startswith("#")}


def normalize(name: str) -> str:
    """PEP 503: case and runs of -, _ and . do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


if __name__ == "__main__":
    main()
