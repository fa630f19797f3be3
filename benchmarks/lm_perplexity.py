"""Held-out perplexity of pretraining checkpoints, each against the first one.

Compares language models caught at the same point of training, e.g. two
settings of `pretrain.dropout`: run `benchmarks/pretrain.py --work DIR` (or
`doclstm stage pretrain`) once per setting, copy each run's resume folder
(`DIR/encoder.resume`, `models/<run>.encoder.resume`) when its `state.json`
reaches the same step, then score the copies on the held-out documents of
the same tokens folder. Perplexity is the full softmax's, as the pretrain
stage logs it after every epoch. The params give the model's shape and the
held-out share; a checkpoint of another shape is refused by name.

    .venv/bin/python -m benchmarks.lm_perplexity --tokens W/data/tokens \\
        [--params profiles/imdb.yaml] [--set k=v ...] BASELINE_CHECKPOINT OTHER_CHECKPOINT...
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.arguments import tokens_parser
from doclstm.config.params import load_params
from doclstm.errors import DoclstmError
from doclstm.models.device import pick_device
from doclstm.storage.manifest import StageManifest
from doclstm.tasks.pretrain import language_model, language_model_objective, pretraining_text
from doclstm.training.checkpoint import load_training_state


def main() -> None:
    parser = tokens_parser(__doc__)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="resume folders; first: baseline")
    args = parser.parse_args()
    params = load_params(args.params, args.set)
    upstream = StageManifest.load(args.tokens)
    learn, held_out = pretraining_text(args.tokens, upstream, params.pretrain.held_out_fraction)
    model = language_model(params.pretrain, params.train, upstream.summary["vocab_size"], learn)
    objective = language_model_objective(params.pretrain)
    device = pick_device(params.train.device)
    print(f"{len(held_out):,} held-out documents, {int(held_out.lengths.sum()):,} tokens")
    baseline = None
    for checkpoint in args.checkpoints:
        state = load_training_state(checkpoint)
        if state is None:
            raise DoclstmError(f"{checkpoint}: no training state (state.json) there")
        model.load_state_dict(state["model"])
        perplexity = objective.evaluate(model.to(device), held_out, device)["val_perplexity"]
        baseline = baseline or perplexity
        progress = state["progress"]
        print(
            f"{checkpoint}: epoch {progress['epoch']}, step {progress['step']}: held-out "
            f"perplexity {perplexity:.1f} ({perplexity / baseline:.3f}x the first)"
        )


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
