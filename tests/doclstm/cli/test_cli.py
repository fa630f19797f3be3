import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq


def test_bad_params_file_prints_one_clear_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  model:\n    pooling: median\n")
    proc = subprocess.run(
        [sys.executable, "-m", "doclstm.cli", "stage", "ingest", "--params", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "train.model.pooling" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unknown_stage_is_a_user_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "doclstm.cli",
            "stage",
            "tokenise",
            "--set",
            f"base.workspace={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown stage 'tokenise' (did you mean 'tokenize'?)" in proc.stdout


def _prefect_startup_timeout(env: dict[str, str]) -> str:
    """What Prefect reads for the temporary server's startup timeout in a CLI process."""
    code = (
        "import sys\n"
        "from doclstm.cli.commands import prefect_environment\n"
        # main() sets the defaults first; they only count if Prefect is not imported yet.
        "assert 'prefect' not in sys.modules\n"
        "prefect_environment()\n"
        "from prefect.settings import get_current_settings\n"
        "print(get_current_settings().server.ephemeral.startup_timeout_seconds)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_cli_gives_prefects_temporary_server_time_to_start_unless_told() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_EPHEMERAL")}
    # Prefect's own 20 s was missed twice in one CI run on 2 busy cores.
    assert _prefect_startup_timeout(env) == "120"
    told = {**env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "7"}
    assert _prefect_startup_timeout(told) == "7"


def test_the_stage_help_names_every_training_stage() -> None:
    from doclstm.tasks.table import TRAINING_STAGES

    proc = subprocess.run(
        [sys.executable, "-m", "doclstm.cli", "stage", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0
    names = [stage.name for stage in TRAINING_STAGES]
    assert "pretrain" in names and "score" not in names
    assert ", ".join(names) in proc.stdout


def test_score_runs_outside_a_project_folder_on_the_shipped_defaults(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """With --model, --input and --output given, no params.yaml is needed: the typed
    defaults are the shipped file's (test_params.py). With --json the result is JSON on
    stdout; the log is on stderr, one line an event (not also in Prefect's format)."""
    out = tmp_path / "scored"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "doclstm.cli", "score", "--json"),
            *("--model", str(built_workspace / "models/main")),
            *("--input", str(small_corpus), "--output", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert pq.read_table(out).num_rows == 300
    result = json.loads(proc.stdout)
    assert result["documents"] == 300 and result["out_dir"].startswith(str(out))
    shard_lines = [line for line in proc.stderr.splitlines() if "score: shard 0," in line]
    assert len(shard_lines) == 1, proc.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doclstm.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_a_misspelt_setting_is_named_with_the_one_meant() -> None:
    misspelt = _cli("inspect", "tokens", "--set", "train.epochz=3")
    assert misspelt.returncode == 2
    assert "--set train.epochz=3: Extra inputs are not permitted (did you mean train.epochs?)" in (
        misspelt.stdout.replace("\n", "")
    )
    group = _cli("inspect", "tokens", "--set", "trian.epochs=3")
    assert "--set trian.epochs=3" in group.stdout and "did you mean train?" in group.stdout


def test_help_and_version_read_as_a_person_writes_them() -> None:
    from importlib.metadata import version

    assert _cli("--version").stdout.strip() == f"doclstm {version('doclstm')}"
    short, long = _cli("score", "-h"), _cli("score", "--help")
    assert short.returncode == 0 and short.stdout == long.stdout
    assert "KEY=VALUE" in short.stdout and "PATH" in short.stdout
    assert "<list[str]>" not in short.stdout and "<str>" not in short.stdout
    # Help is markdown (docstring lines joined): text in angle brackets survives as code.
    assert "models:/<name>/<version>" in short.stdout
    commands = _cli("-h").stdout
    for name in ("predict", "models", "inspect", "--install-completion"):
        assert name in commands


def test_a_stage_logs_each_event_once_even_with_prefects_handlers_installed() -> None:
    """`doclstm stage` imports the stage modules, and so Prefect, whose logging setup puts
    its console handler on the root logger: a line must not come out in both formats."""
    code = (
        "import logging, prefect.logging.configuration as c; c.setup_logging();"
        "from doclstm.cli.logs import log_to_console; log_to_console();"
        "logging.getLogger('doclstm.tasks.validate').info('validate: one event')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("validate: one event") == 1, proc.stderr
    assert proc.stdout == ""  # results only on standard output


def test_results_print_as_lines_or_as_json() -> None:
    from dataclasses import dataclass

    from doclstm.cli.results import jsonable, result_lines

    @dataclass
    class Inner:
        path: Path
        share: float

    @dataclass
    class Outer:
        documents: int
        inner: Inner
        labels: list[str]

    value = Outer(3, Inner(Path("a/b"), 0.25), ["x", "y"])
    assert jsonable(value) == {
        "documents": 3,
        "inner": {"path": "a/b", "share": 0.25},
        "labels": ["x", "y"],
    }
    assert result_lines(value) == [
        "documents  3",
        "inner",
        "  path   a/b",
        "  share  0.25",
        "labels     x, y",
    ]
