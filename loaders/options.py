"""What ``kgrec load``'s options take and default to, in a module that imports no pandas, so
that its parser (``kgrec load table --help``) and its checks read them without loading it; the
loaders import them from here."""

from __future__ import annotations

# what the rows of a `load table` file are (--kind): loaders.table reads each so
KINDS = ("interactions", "items", "users", "entities")

DEFAULT_DOMAIN = "default"  # the domain of a load's items without --domain or a rule
