"""The networks and their folders: `SequenceClassifier` (LSTM/GRU, pooling, the token
bag expert, hierarchical windows), the language model that pretrains its encoder, the
frozen MiniLM window encoder and distilled token vectors, the MiniLM teacher that is
fine-tuned and read in windows (never at scoring), exact windowed scoring of long
documents, batched inference, and the model folder that is checked against itself on load.
May import `storage`, `config` and `text`; never `training`.
"""
