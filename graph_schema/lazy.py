"""Packages whose names are imported on first use (PEP 562's module ``__getattr__``), so that
importing the package stays light: ``kgrec --help`` and the argument parsers import
:mod:`graph_schema.errors`, :mod:`loaders.rules`, :mod:`kgrec.data.protocols`,
:mod:`kgrec.models.registry` and :mod:`kgrec.text` without pandas or torch.

Here, in the lowest layer, so that ``graph_schema`` and ``loaders`` take it as the ``kgrec``
packages (``kgrec.data``, ``kgrec.models``, ``kgrec.text``) do.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package``: a name of ``names`` (name -> the submodule
    that defines it, relative to ``package``) is imported from its submodule when first asked
    for, and a submodule is given as an attribute (``kgrec.data.split`` after ``import
    kgrec.data``, as importing the package gave it before its names were lazy); anything else
    is an AttributeError."""

    def __getattr__(name: str) -> object:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        if name.isidentifier() and importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
