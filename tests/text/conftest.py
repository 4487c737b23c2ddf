"""Fixtures of the text-embedding tests: the default model, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def encoder():
    """The default encoder (bundled all-MiniLM-L6-v2); tests must not change it."""
    from kgrec.text.encoder import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, encoder) -> Path:
    """A second, different model: a randomly initialised 1-layer BERT with the same tokenizer."""
    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert"), encoder, seed=0)


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory, encoder) -> Path:
    """A third model, of the same size as ``tiny_model`` (32 dimensions), other weights."""
    return _tiny_bert(tmp_path_factory.mktemp("other-tiny-bert"), encoder, seed=1)


def _tiny_bert(path: Path, encoder, *, seed: int) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=encoder.tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    encoder.tokenizer.save_pretrained(path)
    return path


class ForwardCounter:
    """Counts the forward calls of an encoder's model (one per batch) while in a with block."""

    def __init__(self, encoder) -> None:
        self.encoder, self.calls, self.texts = encoder, 0, 0

    def _hook(self, module, args, kwargs, output) -> None:
        self.calls += 1
        self.texts += int(kwargs["input_ids"].shape[0])

    def __enter__(self) -> ForwardCounter:
        self._handle = self.encoder.model.register_forward_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()


@pytest.fixture
def count_forward():
    return ForwardCounter
