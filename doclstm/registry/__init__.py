"""The MLflow side: the model registry's champion and challenger with the record of
every decision, the gate's rules, what a model came from (lineage tags), and the nightly
training key that lets a retrain be skipped. May import `storage`, `config`, `sources`
and `text`.
"""
