"""Which device torch computes on: ``--device auto|cpu|cuda`` (``cuda:N`` too).

``auto`` (the default) is the GPU when torch sees one, else the CPU. Asking for CUDA where
torch has none is an input error, not a crash deep inside training.
"""

from __future__ import annotations

import re

from kgrec.errors import InputError

CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | None = None):
    """The :class:`torch.device` ``name`` means (None: ``auto``). Under a launcher, plain
    ``cuda`` is the local rank's GPU (``LOCAL_RANK``, torchrun's; without it the rank, as
    :func:`kgrec.distributed.env_world` reads them). Case and blanks around the name are
    ignored (``" CUDA:1 "`` is ``cuda:1``), where :class:`torch.device` refuses them: the
    Python API's ``device=`` reads a name as a user writes one; the command line's
    ``--device`` takes ``auto``, ``cpu`` or ``cuda`` as written. An unknown name is an
    :class:`~kgrec.errors.InputError` naming it as given, and so is what is no name (a
    :class:`torch.device`)."""
    import torch

    from kgrec.distributed import env_world

    given = name
    if name is not None and not isinstance(name, str):  # torch.device('cpu'), 0: its name
        raise InputError(
            f"device must be a name (auto, cpu, cuda or cuda:N), got {name!r}", field="--device"
        )
    name = (name or "auto").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    kind, colon, index = name.partition(":")
    # an index as torch.device reads one: 0, or ASCII digits from a 1 to 9 on ('cuda:01',
    # 'cuda:00' and 'cuda:' are no device to it; nor 'cuda:٣', though int() reads '٣' as 3)
    if kind not in ("cpu", "cuda") or (colon and not re.fullmatch("0|[1-9][0-9]*", index)):
        raise InputError(
            f"unknown device {given!r} (one of: auto, cpu, cuda, cuda:N)", field="--device"
        )
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError(
            "--device cuda, but torch sees no CUDA GPU (a CPU-only torch build, no driver, or "
            "CUDA_VISIBLE_DEVICES empty): use --device cpu",
            field="--device",
        )
    if not index:
        index = str(env_world().local_rank)
    if int(index) >= torch.cuda.device_count():
        raise InputError(
            f"no CUDA device {index}: torch sees {torch.cuda.device_count()}", field="--device"
        )
    return torch.device("cuda", int(index))
