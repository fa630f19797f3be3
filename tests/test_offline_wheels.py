"""benchmarks/offline_wheels.py: which wheels an offline GPU machine lacks to run a module."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.offline_wheels import loaded_distributions, missing_pins, read_names

REPO = Path(__file__).resolve().parents[1]


def test_names_come_from_pip_freeze_lines_or_bare_names_normalized() -> None:
    lines = [
        "# what the machine has",
        "PyYAML==6.0.3",
        "typing_extensions==4.16.0",
        "torch @ file:///opt/torch-2.11.0-cp312.whl",
        "Ruamel.YAML[jinja2]>=0.18",
        "numpy",
        "",
    ]
    assert read_names(lines) == {"pyyaml", "typing-extensions", "torch", "ruamel-yaml", "numpy"}


def test_modules_map_to_their_installed_distributions_not_the_standard_library() -> None:
    found = loaded_distributions(["yaml", "pydantic.fields", "json.decoder", "collections"])
    assert found == {
        "pyyaml": metadata.version("PyYAML"),
        "pydantic": metadata.version("pydantic"),
    }


def test_pins_leave_out_what_the_machine_has_and_the_project_itself() -> None:
    found = {"pyyaml": "6.0.3", "pydantic": "2.14.3", "doclstm": "0.1.0", "torch": "2.13.0"}
    assert missing_pins(found, {"torch", "pyyaml"}) == ["pydantic==2.14.3"]


def test_a_run_counts_what_the_module_imports_only_while_running(tmp_path: Path) -> None:
    """`-- ARGS` runs the module, so a lazy import is counted; importing alone misses it."""
    (tmp_path / "lazy_job.py").write_text(
        "import sys\n"
        "if __name__ == '__main__':\n"
        "    import toml  # only when run\n"
        "    assert sys.argv[1:] == ['--budget', '1'], sys.argv\n"
        "    print('ran')\n"
    )
    have = tmp_path / "have.txt"
    have.write_text("PyYAML==6.0.3\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}

    def listed(*extra: str) -> list[str]:
        command = [sys.executable, "-m", "benchmarks.offline_wheels", "lazy_job"]
        command += ["--have", str(have), "--list", *extra]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    assert listed() == []
    assert listed("--", "--budget", "1") == ["ran", f"toml=={metadata.version('toml')}"]
