"""Fitting a model: the training loop (AdamW, schedules, clipping, early stopping,
resume), what it optimizes (classification, distillation from a teacher's logits, or
language modelling), the bag's convergent fit, temperature scaling on val, the teacher's
fine-tuning and the transfer set of its logits (with its augmented copies), resume
checkpoints, the device and `torchrun` placement, and one stage's MLflow run.
May import `storage`, `config`, `console`, `text`, `models` and `evaluation`.
"""
