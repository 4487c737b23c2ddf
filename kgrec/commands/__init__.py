"""The `kgrec` command groups; each module defines ``register(subparsers)``."""
