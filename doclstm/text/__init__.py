"""Text into token ids and token ids into batches: the subword tokenizer trained on
train text only, length histograms, and the length-bucketed, token-budget batches that
training and inference share. May import `storage` and `config`.
"""
