"""Fitting a model: the training loop (AdamW, schedules, clipping, early stopping,
resume), what it optimizes (classification or language modelling), the bag's convergent
fit, resume checkpoints, the device and `torchrun` placement, and one stage's MLflow run.
May import `storage`, `config`, `console`, `text`, `models` and `evaluation`.
"""
