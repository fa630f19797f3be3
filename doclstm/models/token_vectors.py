"""Static token vectors distilled from the shipped MiniLM encoder: `embedding_init: minilm`.

A recurrent classifier that starts from random embeddings needs far more
labels than a linear model does (Dai & Le 2015); doclstm cannot download
pretrained vectors, but it installs one pretrained encoder offline, so it
distils its own, as model2vec does (Tulkens & van Dongen 2024): every token
of the pipeline's vocabulary is read by all-MiniLM-L6-v2 as a text of its
own (its word-piece marks removed: `##ing` is read as `ing`, BPE's `</w>`
and unigram's `▁` likewise) and its output mean-pooled to one 384-d vector.
`[PAD]` gets zeros, `[UNK]` the mean of the others.

The 384-d vectors depend on the tokenizer file and the MiniLM weights only,
so they are computed once per tokenizer and kept in `data/token_vectors/`
(`vectors.safetensors` and `manifest.json`, keyed by the tokenizer's sha256
and the weights' sha256): every later training with that tokenizer reads
them back, checksum verified, and runs no encoder. `embedding_matrix`
turns them into the embedding's initial weights: centred, reduced to
`embedding_dim` by PCA (the principal axes, signs fixed, so the result is
deterministic) and scaled to unit RMS per element, the scale of
`nn.Embedding`'s own N(0, 1) init.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer

from doclstm.config.workspace import TokenCaches
from doclstm.errors import DoclstmError
from doclstm.models.window_encoder import DIM, load_minilm, minilm_identity
from doclstm.storage.atomic import atomic_dir
from doclstm.storage.fingerprint import sha256_file
from doclstm.storage.manifest import StageManifest, file_entry, fresh_manifest, stage_fingerprint
from doclstm.text.minilm_files import PACKAGE
from doclstm.text.tokenizer import CONTINUATION, EOW, PAD_ID, TOKENIZER_FILE, UNK_ID

log = logging.getLogger(__name__)
VECTORS = "vectors.safetensors"
ENCODE_BATCH = 256
METASPACE = "\u2581"
METHOD = "mean-pooled token text, v1"  # bump when the vectors computed change


@dataclass(frozen=True)
class TokenVectors:
    vectors: np.ndarray  # (vocab_size, 384) float32, row i for token id i
    tokenizer_sha256: str
    out_dir: Path
    computed: bool  # False: read back from the cache


def start_embedding(
    model: torch.nn.Module,
    init: str,
    tokens_dir: Path,
    device: torch.device,
    apply: bool = True,
) -> dict[str, Any]:
    """For `init` minilm, set the weights of `model.embedding` from the token vectors of
    `tokens_dir`'s tokenizer (kept in `data/token_vectors/`); what the model's manifest
    records of it. Nothing is loaded for `random` (a model that reads MiniLM windows has no
    token embedding), or when not `apply` (a DDP rank other than 0, whose weights DDP
    overwrites with rank 0's; a pretrained encoder's embedding replaces it)."""
    if init != "minilm" or not apply:
        return {"embedding_init": init}
    embedding = model.embedding
    if not isinstance(embedding, torch.nn.Embedding):
        raise DoclstmError(f"{type(model).__name__} has no token embedding to start from vectors")
    found = token_vectors(
        tokens_dir / TOKENIZER_FILE, TokenCaches(tokens_dir).token_vectors, device
    )
    if len(found.vectors) != embedding.num_embeddings:
        raise DoclstmError(
            f"{found.out_dir}: {len(found.vectors)} token vectors for an embedding of "
            f"{embedding.num_embeddings} tokens; remove the folder to compute them again"
        )
    with torch.no_grad():
        embedding.weight.copy_(embedding_matrix(found.vectors, embedding.embedding_dim))
    return {
        "embedding_init": "minilm",
        "token_vectors": str(found.out_dir),
        "token_vectors_loaded": len(found.vectors),
        "token_vectors_computed": found.computed,
        "tokenizer_sha256": found.tokenizer_sha256,
    }


def token_vectors(tokenizer_path: Path, out_dir: Path, device: torch.device) -> TokenVectors:
    """The MiniLM vector of every token of `tokenizer_path`, from `out_dir` when it was
    made for this tokenizer file and these weights, else computed once and kept there."""
    tokenizer_sha256 = sha256_file(tokenizer_path)
    fingerprint = _fingerprint(tokenizer_sha256)
    cached = fresh_manifest(out_dir, fingerprint)  # every file's checksum verified
    if cached is not None:  # the fingerprint holds the tokenizer's sha256
        vectors = _read_vectors(out_dir, cached)
        log.info("token vectors: %d cached vectors from %s", len(vectors), out_dir)
        return TokenVectors(vectors, tokenizer_sha256, out_dir, computed=False)
    vectors = distill(Tokenizer.from_file(str(tokenizer_path)), device)
    with atomic_dir(out_dir) as tmp:
        save_file({"vectors": vectors}, str(tmp / VECTORS))
        summary = {
            "tokenizer_sha256": tokenizer_sha256,
            "vectors": len(vectors),
            "dim": DIM,
            "encoder": PACKAGE,
            "method": METHOD,
        }
        StageManifest(
            "token_vectors", fingerprint, {VECTORS: file_entry(tmp / VECTORS)}, summary
        ).write(tmp)
    log.info("token vectors: MiniLM encoded %d tokens, kept in %s", len(vectors), out_dir)
    return TokenVectors(vectors, tokenizer_sha256, out_dir, computed=True)


def load_token_vectors(out_dir: Path, tokenizer_sha256: str) -> TokenVectors:
    """The kept vectors of `out_dir`, refused unless made for the tokenizer with this sha256."""
    manifest = StageManifest.load(out_dir)
    made_for = manifest.summary.get("tokenizer_sha256")
    if made_for != tokenizer_sha256:
        raise DoclstmError(
            f"{out_dir}: token vectors made for tokenizer {str(made_for)[:12]}, not for "
            f"{tokenizer_sha256[:12]}; remove the folder to compute them again"
        )
    manifest.verified_file(out_dir, VECTORS)
    vectors = _read_vectors(out_dir, manifest)
    return TokenVectors(vectors, tokenizer_sha256, out_dir, computed=False)


def _read_vectors(out_dir: Path, manifest: StageManifest) -> np.ndarray:
    """The vectors file of a verified folder, refused unless it holds the count listed."""
    path = out_dir / VECTORS
    vectors = load_file(str(path))["vectors"]
    if len(vectors) != manifest.summary["vectors"]:
        raise DoclstmError(f"{path}: {len(vectors)} vectors, manifest says otherwise; remove it")
    return vectors


def token_texts(tokenizer: Tokenizer) -> list[str]:
    """What MiniLM reads for each token id: the token without its word-piece marks."""
    texts = []
    for token_id in range(tokenizer.get_vocab_size()):
        token = tokenizer.id_to_token(token_id) or ""
        token = token.removeprefix(CONTINUATION).removesuffix(EOW).replace(METASPACE, " ")
        texts.append(token.strip() or token)
    return texts


def distill(tokenizer: Tokenizer, device: torch.device) -> np.ndarray:
    """(vocab_size, 384) float32: MiniLM's mean-pooled output for each token's text."""
    model = load_minilm(device)
    with torch.no_grad():
        vectors = model.encode(
            token_texts(tokenizer),
            batch_size=ENCODE_BATCH,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors[PAD_ID] = 0.0
    rest = np.ones(len(vectors), dtype=bool)
    rest[[PAD_ID, UNK_ID]] = False
    vectors[UNK_ID] = vectors[rest].mean(axis=0)
    return vectors


def embedding_matrix(vectors: np.ndarray, dim: int) -> torch.Tensor:
    """(vocab, dim) initial embedding weights from (vocab, 384) token vectors: centred,
    projected on the first `dim` principal axes (each axis's sign fixed so its largest
    coordinate is positive), scaled to unit RMS per element; row PAD_ID stays zero."""
    if dim > vectors.shape[1]:
        raise DoclstmError(
            f"embedding_dim {dim} is over the {vectors.shape[1]} dimensions of MiniLM's vectors"
        )
    data = vectors.astype(np.float64)
    rows = np.ones(len(data), dtype=bool)
    rows[PAD_ID] = False
    centred = data - data[rows].mean(axis=0)
    _, _, axes = np.linalg.svd(centred[rows], full_matrices=False)
    axes = axes[:dim]
    axes *= np.where(axes[np.arange(dim), np.abs(axes).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    projected = centred @ axes.T
    projected /= np.sqrt(np.mean(projected[rows] ** 2))
    projected[PAD_ID] = 0.0
    return torch.from_numpy(projected.astype(np.float32))


def _fingerprint(tokenizer_sha256: str) -> str:
    return stage_fingerprint(
        "token_vectors",
        __name__,
        {"method": METHOD},
        tokenizer=tokenizer_sha256,
        encoder=minilm_identity(),
    )
