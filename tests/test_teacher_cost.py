"""The scoring-cost benchmark of the student against its teacher runs on a real model
folder and prints both rates and their ratio."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.teacher_cost import main, split_texts


def test_it_times_both_on_the_same_documents(
    built_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    validated = built_workspace / "data/validated"
    texts = split_texts(validated, "test")
    assert texts and all(isinstance(t, str) for t in texts)
    args = ["--model", str(built_workspace / "models/main"), "--validated", str(validated)]
    assert main([*args, "--rounds", "1", "--window", "64"]) == 0
    out = capsys.readouterr().out
    assert f"{len(texts)} test documents" in out
    student = float(re.search(r"student\s+([\d.]+) documents/s", out).group(1))  # type: ignore[union-attr]
    teacher = float(re.search(r"teacher\s+([\d.]+) documents/s", out).group(1))  # type: ignore[union-attr]
    ratio = float(re.search(r"ratio student / teacher: ([\d.]+)x", out).group(1))  # type: ignore[union-attr]
    assert student > teacher > 0 and ratio == pytest.approx(student / teacher, rel=0.05)
