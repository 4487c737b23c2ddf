"""The checks of arguments of kgrec's models and of the library around them (the fold-in, the
objectives, the metrics): each raises a TypeError or ValueError naming the argument, where
torch or Python would fail later without its name or take it silently (``True`` as 1,
``"False"`` as true). A module of its own, importing no other of kgrec's, so that any module
may check its arguments with them."""

from __future__ import annotations

import numbers
from numbers import Real

import torch
from torch import Tensor

from graph_schema.validate import plain


def check_integer(name: str, value: object) -> None:
    """A TypeError unless ``value`` is an integer, a NumPy one too (not a bool: ``2.5``,
    ``True``, ``"2"``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")


def check_count(name: str, value: object, minimum: int) -> None:
    """A TypeError unless ``value`` is an integer (:func:`check_integer`), a ValueError if it
    is below ``minimum``: a size or a count of a model."""
    check_integer(name, value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def check_flag(name: str, value: object) -> bool:
    """``value`` as a Python bool: a TypeError unless it is one (NumPy's ``np.bool_`` too), not
    a string such as ``"False"``, which is true, nor a number: a switch of a model."""
    value = plain(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_number(name: str, value: object) -> None:
    """A TypeError unless ``value`` is a real number (not a bool, not a string such as
    ``"1"``): a weight or a rate of a model, whose range the caller checks with it."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}")


def check_tensor(name: str, value: object) -> None:
    """A TypeError unless ``value`` is a torch.Tensor (a list, a NumPy array: convert it with
    ``torch.as_tensor``)."""
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(value).__name__} (torch.as_tensor "
            "converts it)"
        )


def check_k(k: object) -> int:
    """``k``, a number of items to rank, as a Python int: a TypeError unless it is an integer,
    a NumPy one too (not a bool, not ``"10"``), a ValueError unless it is positive."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a positive integer, got {k!r}")
    if k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


# the dtypes torch indexes with as indices: a uint8 (or bool) tensor is a mask to it, so
# users [1, 0, 1] as uint8 were the rows of users 0 and 2; int8 and int16 its bare IndexError
INDEX_DTYPES = (torch.int64, torch.int32)


def _index_dtype(dtype: torch.dtype) -> str:
    """What an index tensor of ``dtype`` is told: which dtypes index, and why a uint8 does not."""
    mask = " (torch takes uint8 for a mask)" if dtype == torch.uint8 else ""
    return f"int64 or int32, got {dtype}{mask}"


def check_indices(name: str, index: Tensor, size: int) -> None:
    """ValueError unless ``index`` is a 1-D integer tensor (int64 or int32:
    :data:`INDEX_DTYPES`) of indices in ``[0, size)``: a negative one would silently wrap onto
    the last rows, one past them be torch's bare IndexError, a uint8 one a mask; a TypeError
    unless it is a tensor at all (a list: ``torch.as_tensor`` it)."""
    check_tensor(name, index)
    if index.dim() != 1 or index.dtype not in INDEX_DTYPES:
        raise ValueError(
            f"{name} must be a 1-D integer tensor of indices ({_index_dtype(index.dtype)}) of "
            f"shape {list(index.shape)}"
        )
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        raise ValueError(
            f"{name} must lie in [0, {size}), got values in [{int(index.min())}, "
            f"{int(index.max())}]"
        )


def check_vectors(name: str, vectors: Tensor, rows: int, shape: str) -> None:
    """ValueError unless ``vectors`` is a 2-D tensor of ``rows`` rows of finite numbers (text
    vectors, one row a node; ``shape`` says it in the message, ``"(19, d_text)"``): a NaN in
    one row would make every score it reaches NaN, a model diverged as far as training can
    tell; a TypeError unless it is a tensor at all."""
    check_tensor(name, vectors)
    if vectors.dim() != 2 or vectors.size(0) != rows:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(vectors.shape)}")
    finite = torch.isfinite(vectors).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten()
        raise ValueError(
            f"{name} must hold finite numbers: {len(bad)} row(s) hold NaN or infinite values "
            f"(first: row {int(bad[0])})"
        )


def check_edge_index(
    edge_index: Tensor, num_nodes: int | None = None, edge_type: Tensor | None = None
) -> None:
    """ValueError unless ``edge_index`` is a ``[2, E]`` integer tensor (:data:`INDEX_DTYPES`)
    of node ids from 0 (and below ``num_nodes``), and ``edge_type`` (if given) has one integer
    entry per edge: a model must not read memory past its nodes, or wrap an id onto another
    node; a TypeError unless both are tensors (a list: ``torch.as_tensor`` it)."""
    check_tensor("edge_index", edge_index)
    if edge_type is not None:
        check_tensor("edge_type", edge_type)
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.dtype not in INDEX_DTYPES:
        raise ValueError(
            f"edge_index must be a [2, E] integer tensor ({_index_dtype(edge_index.dtype)}) of "
            f"shape {list(edge_index.shape)}"
        )
    if edge_index.numel():
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0:
            raise ValueError(f"edge_index holds the node id {low}: ids count from 0")
        if num_nodes is not None and high >= num_nodes:
            raise ValueError(f"edge_index reaches node {high}, beyond the graph's {num_nodes}")
    if edge_type is not None and (
        tuple(edge_type.shape) != (edge_index.size(1),) or edge_type.dtype not in INDEX_DTYPES
    ):
        raise ValueError(
            f"edge_type must hold one relation per edge ({edge_index.size(1)}), an integer "
            f"each ({_index_dtype(edge_type.dtype)}) of shape {list(edge_type.shape)}"
        )
