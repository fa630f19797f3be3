"""Files on disk and their contracts: atomic writes, file locks, the manifest beside
every stage output (fingerprint, checksums, summary), the Parquet tables and their verified
readers and writers, the token shards read back, and the content and DVC hashes caching is
built on. Imports nothing else of doclstm but `errors` (and `__version__`).
"""
