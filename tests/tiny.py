"""Tiny random models built in-process (2 layers, hidden 32): real architectures, seconds to train."""

from __future__ import annotations

import string
from pathlib import Path

WORDS = (
    "the a my i is was not to and of for on in it this that order invoice refund charge card payment "
    "password login account email app crash error page shipping delivery package late where when help "
    "please thanks great love slow fast bug broken reset close change address money back return want"
).split()


def write_tiny_encoder(directory: Path, seed: int = 0) -> Path:
    """A BERT with a WordPiece vocabulary of letters and common words, saved like a hub model."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.digits, *string.punctuation]
    vocab += [f"##{c}" for c in string.ascii_lowercase + string.digits] + WORDS
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    from tokenizers import BertWordPieceTokenizer

    backend = BertWordPieceTokenizer(str(directory / "vocab.txt"), lowercase=True)
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(directory))
    return directory
