"""`doclstm predict`: texts from arguments, files and stdin, with a real model folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from doclstm.cli.predict import Document, predictions, read_documents
from doclstm.errors import DoclstmError
from doclstm.models.model_folder import load_model_dir
from doclstm.scoring.predictor import TextPredictor


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_documents_come_from_arguments_files_lines_and_stdin(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("first line\n\nsecond line\n")
    got = read_documents(["one"], [a], lines=False, stdin=_Tty())
    assert got == [Document("argument 1", "one"), Document(str(a), a.read_text())]
    assert read_documents([], [a], lines=True, stdin=_Tty()) == [
        Document(f"{a}:1", "first line"),
        Document(f"{a}:3", "second line"),
    ]
    piped = read_documents([], [], lines=True, stdin=io.StringIO("x\ny\n"))
    assert piped == [Document("stdin:1", "x"), Document("stdin:2", "y")]
    with pytest.raises(DoclstmError, match="no text given"):
        read_documents([], [], lines=False, stdin=_Tty())
    with pytest.raises(DoclstmError, match=r"missing\.txt"):
        read_documents([], [tmp_path / "missing.txt"], lines=False, stdin=_Tty())


def test_predictions_are_the_predictors_and_an_empty_text_is_not_scored(
    built_workspace: Path,
) -> None:
    model_dir = built_workspace / "models/main"
    texts = ["The striker scored twice in the final.", "   ", "Shares fell after the results."]
    records = predictions(
        [Document(f"d{i}", t) for i, t in enumerate(texts)], model_dir, 65536, "window"
    )
    predictor = TextPredictor(load_model_dir(model_dir), long_documents="window")
    expected = predictor.predict([texts[0], texts[2]])
    for record, probs in zip([records[0], records[2]], expected, strict=True):
        assert list(record["probabilities"]) == predictor.labels
        assert np.allclose(list(record["probabilities"].values()), probs, atol=1e-6)
        assert record["predicted"] == predictor.labels[int(probs.argmax())]
        assert record["confidence"] == pytest.approx(float(probs.max()))
        assert record["reason"] is None
    assert records[1] | {"source": None} == {
        "source": None,
        "predicted": None,
        "confidence": None,
        "probabilities": None,
        "reason": "empty document",
    }


def test_the_command_reads_stdin_anywhere_with_a_model_folder(
    built_workspace: Path, tmp_path: Path
) -> None:
    model_dir = built_workspace / "models/main"
    command = [sys.executable, "-m", "doclstm.cli", "predict", "--model", str(model_dir)]
    done = subprocess.run(
        [*command, "--lines", "--json"],
        input="The match ended in a draw.\nThe bank cut its rates.\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # no params.yaml here: the shipped defaults
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["source"] for r in rows] == ["stdin:1", "stdin:2"]
    assert all(r["predicted"] in r["probabilities"] for r in rows)
    table = subprocess.run(
        [*command, "The match ended in a draw."],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert table.returncode == 0 and "predictions of main version local-" in table.stdout
