"""Where documents come from: folder trees, tar and zip archives, tables (CSV, JSON
Lines, Parquet) and the built-in corpus, read one document at a time with unsafe members
refused; the Great Expectations suites that check what ingest read, and the deterministic
train/val/test split. May import `storage` and `config`; nothing that loads torch.
"""
