import subprocess
import sys
from pathlib import Path


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
    assert "unknown stage 'tokenise'" in proc.stdout
