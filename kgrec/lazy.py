"""The module ``__getattr__`` of the packages whose names are imported on first use
(``kgrec.data``, ``kgrec.models``, ``kgrec.text``), so that importing the package stays light:
``kgrec --help`` and the argument parsers import :mod:`kgrec.data.protocols`,
:mod:`kgrec.models.registry` and :mod:`kgrec.text` without torch. Defined in
:mod:`graph_schema.lazy`, the lowest layer, whose packages (``graph_schema``, ``loaders``) take
it too.
"""

from __future__ import annotations

# re-exported: defined here until session 46
from graph_schema.lazy import lazy_names as lazy_names
