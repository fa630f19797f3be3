"""One rank of the 2-process DDP test:
`torchrun --nproc_per_node 2 -m tests.doclstm.training.ddp_worker TOKENS OUT OBJECTIVE`.
Trains through `doclstm.training.trainer.fit` on the gloo backend, the classifier or
(OBJECTIVE `language_model`) the pretraining language model, and saves this rank's final
weights and validation history."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from doclstm.config.params import TrainParams
from doclstm.models.config import ModelConfig
from doclstm.models.language_model import EncoderLanguageModel
from doclstm.models.model import SequenceClassifier
from doclstm.storage.token_data import load_split
from doclstm.training.distributed import Distributed
from doclstm.training.objectives import LanguageModelObjective
from doclstm.training.trainer import fit


def main(tokens_dir: Path, out: Path, objective: str) -> None:
    manifest = json.loads((tokens_dir / "manifest.json").read_text())["summary"]
    train, val = load_split(tokens_dir, "train"), load_split(tokens_dir, "val")
    params = TrainParams.model_validate(
        {
            "epochs": 2,
            "batch_tokens": 1024,
            "loader_workers": 0,
            "model": {"embedding_dim": 16, "hidden_size": 16},
        }
    )
    labels = manifest["labels"]
    config = ModelConfig.build(manifest["vocab_size"], len(labels), params.model)
    dist = Distributed.from_env("cpu")
    torch.manual_seed(100 + dist.rank)  # different initial weights: DDP must make them one
    model: nn.Module
    if objective == "language_model":
        # bptt 16: every batch runs several segments, and the two ranks' batches a
        # different number of them; gradients must still be averaged once per step.
        counts = np.bincount(train.tokens, minlength=config.vocab_size)
        model = EncoderLanguageModel(config, counts)
        lm = LanguageModelObjective(bptt=16, samples=64, batch_tokens=4096, max_batch_size=64)
        result = fit(model, train, val, [], params, 7, torch.device("cpu"), objective=lm)
    else:
        model = SequenceClassifier(config)
        result = fit(model, train, val, labels, params, 7, torch.device("cpu"))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out / f"rank{dist.rank}.safetensors"),
    )
    (out / f"rank{dist.rank}.json").write_text(json.dumps(result.history))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
