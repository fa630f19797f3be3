"""Judging a model on held-out documents: the metrics (scikit-learn's definitions) with
95% bootstrap intervals, accuracy by document length, and the evaluation plots written
as PNG files. Imports only `storage`.
"""
