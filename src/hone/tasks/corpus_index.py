"""The corpus index of one model state: a corpus is embedded once per set of weights, then searched many times.

Embedding a corpus is the slow part of retrieval evaluation (minutes for a real one); searching it with one
query takes milliseconds. So whoever predicts with one fixed model (a test evaluation with its latency probes,
a baseline, a first-stage retriever) builds the index once (`EmbedTask.bind`), and every index built is kept
here under the model's weights fingerprint, the corpus digest and the max length: a dev evaluation and the test
evaluation of the same weights, or the base model loaded twice (mining, then the `base` baseline), find the
index already built. The key is the weights' content, not the model object, because the test evaluation
reloads the best weights from disk into a new object. The key leaves out the precision of the forward pass:
an index embedded in fp32 at a dev evaluation serves a bf16 test evaluation of the same weights (the vectors
differ by rounding only). A model wrapped for several processes (DDP's `module.` names) fingerprints apart
from the unwrapped one: correct, only not shared.

Kept indexes are bounded by `MAX_KEPT_BYTES` (oldest dropped first); an index larger than that on its own is
not kept, only used by the caller that built it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from hone.retrieval.index import VectorIndex

MAX_KEPT_BYTES = 512 * 1024**2  # about 350k MiniLM vectors; more would stay resident through training

_kept: OrderedDict[tuple[str, str, int], VectorIndex] = OrderedDict()
_lock = threading.Lock()


def weights_fingerprint(model: nn.Module) -> str:
    """A digest of every tensor in the model's state dict (names, dtypes, shapes and bytes).

    About 0.1 s for MiniLM's 90 MB on a CPU: paid once per index lookup, never per query.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().contiguous().cpu().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy())  # the raw bytes, whatever the dtype (no copy)
    return digest.hexdigest()


def corpus_digest(ids: Sequence[str], texts: Sequence[str]) -> str:
    """A digest of the documents, in order (ids and texts; lengths first, so no two corpora run together)."""
    digest = hashlib.blake2b(digest_size=16)
    for doc_id, text in zip(ids, texts, strict=True):
        digest.update(f"{len(doc_id)}:{doc_id}{len(text)}:{text}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def index_for(model: nn.Module, corpus_key: str, max_length: int, build: Callable[[], VectorIndex]) -> VectorIndex:
    """The index of this corpus under these weights: the kept one, or `build()` (then kept, within the bound)."""
    key = (weights_fingerprint(model), corpus_key, max_length)
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    index = build()
    _keep(key, index)
    return index


def _keep(key: tuple[str, str, int], index: VectorIndex) -> None:
    size = _bytes(index)
    if size > MAX_KEPT_BYTES:
        return
    with _lock:
        _kept[key] = index
        while sum(_bytes(i) for i in _kept.values()) > MAX_KEPT_BYTES:
            _kept.popitem(last=False)


def _bytes(index: VectorIndex) -> int:
    return len(index) * index.dim * 4


def forget() -> None:
    """Drop every kept index (tests; a long-lived process that is done evaluating)."""
    with _lock:
        _kept.clear()
