"""A disk cache of text vectors keyed by (model identity, text), in one SQLite file.

The key of a text is ``sha256(model identity + NUL + text)``, where the identity
(:attr:`kgrec.text.encoder.TextEncoder.identity`) changes with the weights, tokenizer and
truncation length; so an unchanged text under an unchanged model is never encoded twice, and
any other model or text is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kgrec.errors import KgrecError

log = logging.getLogger(__name__)

_CHUNK = 500  # keys per SELECT: under SQLite's limit on bound parameters
# seconds a read or write waits for another process's lock on the file (SQLite's busy timeout;
# Python's default too) before it is "database is locked"
_WAIT = 5.0


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"


def _columns(db: sqlite3.Connection) -> list[str]:
    """The column names of the ``vectors`` table (none: there is no such table)."""
    return [row[1] for row in db.execute("PRAGMA table_info(vectors)")]


def _busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is SQLite's "database is locked": another process (another ``kgrec
    embed``'s put of many vectors) held the file's lock longer than the connection waits."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def default_cache_path() -> Path:
    """``$KGREC_CACHE/embeddings/vectors.sqlite`` (``KGREC_CACHE`` unset or empty:
    ~/.cache/kgrec; blank, a :class:`KgrecError` naming it, not a folder of that name)."""
    root = os.environ.get("KGREC_CACHE")
    if root and not root.strip():
        raise KgrecError(
            f"KGREC_CACHE is blank ({root!r}): set it to a folder, or unset it for ~/.cache/kgrec"
        )
    return Path(root or Path.home() / ".cache" / "kgrec") / "embeddings" / "vectors.sqlite"


def text_key(identity: str, text: str) -> str:
    return hashlib.sha256(f"{identity}\0{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors by (model identity, text). Writes are one transaction per :meth:`put`."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._from_env = path is None  # its error names KGREC_CACHE, no --cache was given
        self._unwritable = False  # a put failed: put no more (:meth:`put`)
        # rows a put could not write for another process's lock: written with the next put's
        self._pending: list[tuple[str, bytes]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=_WAIT)
            tables = [row[0] for row in self._db.execute(_TABLES)]
            if tables and _columns(self._db) != ["key", "vector"]:
                self._db.close()
                raise KgrecError(
                    f"embedding cache {self.path} is an SQLite database but not a kgrec cache "
                    f"(its tables: {', '.join(sorted(tables))}); it was left as it is: give "
                    "another --cache, or --no-cache"
                )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            if _busy(exc):  # another process writes it (a long put): its reads wait no more
                log.warning(
                    "embedding cache %s is being written by another process (%s): texts its "
                    "reads cannot get are encoded",
                    self.path,
                    exc,
                )
                return
            if not isinstance(exc, sqlite3.OperationalError):  # not a database, or damaged
                raise KgrecError(
                    f"embedding cache {self.path} is damaged or not an SQLite database ({exc}): "
                    "give another --cache, or --no-cache (kgrec's own cache may be deleted)"
                ) from exc
            raise self._unopenable(exc) from exc
        except OSError as exc:  # its folder cannot be made
            raise self._unopenable(exc) from exc

    def _unopenable(self, exc: Exception) -> KgrecError:
        remedy = "set KGREC_CACHE to another folder, " if self._from_env else ""
        return KgrecError(
            f"embedding cache {self.path} cannot be opened or created ({exc}): {remedy}give "
            "another --cache, or --no-cache"
        )

    def get(self, identity: str, texts: Sequence[str], dimension: int) -> dict[int, np.ndarray]:
        """Cached vectors by position in ``texts``; texts not in the cache are absent."""
        positions: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            positions.setdefault(text_key(identity, text), []).append(i)
        keys = list(positions)
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            try:
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            except sqlite3.Error as exc:  # damaged, or not kgrec's
                if _busy(exc):
                    log.warning(
                        "embedding cache %s is being written by another process (%s): %d "
                        "texts are encoded, not read from it",
                        self.path,
                        exc,
                        len(texts) - len(found),
                    )
                    return found
                raise KgrecError(
                    f"embedding cache {self.path} cannot be read ({exc}): delete it, give "
                    "another --cache, or --no-cache"
                ) from None
            for key, blob in rows:
                # another writer's, or damaged (vectors are unit length): encode again
                if not isinstance(blob, bytes) or len(blob) != 4 * dimension:
                    continue
                vector = np.frombuffer(blob, dtype=np.float32)
                if not np.isfinite(vector).all():
                    continue
                if abs(float(np.linalg.norm(vector)) - 1.0) > 1e-3:
                    continue
                for i in positions[key]:
                    found[i] = vector
        return found

    def put(self, identity: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Cache ``vectors`` (one transaction). A cache another process holds locked past
        SQLite's wait (another embed's long put) keeps them for the next put, which tries
        without waiting, and :meth:`close`, which waits: one warning, and the vectors are
        cached once the other is done. One that cannot be written (read-only, full) is a
        warning, once: this object then caches nothing more."""
        if self._unwritable:
            return
        rows = [
            (text_key(identity, text), np.asarray(vector, dtype=np.float32).tobytes())
            for text, vector in zip(texts, vectors, strict=True)
        ]
        self._write([*self._pending, *rows], wait=not self._pending)

    def _write(self, rows: list[tuple[str, bytes]], *, wait: bool) -> None:
        """Write ``rows``, or keep them as pending when the file is locked (``wait``: for up
        to :data:`_WAIT` seconds, as SQLite does; otherwise not at all)."""
        try:
            waits = self._db.execute("PRAGMA busy_timeout").fetchone()[0]  # ms, as set
            if not wait:
                self._db.execute("PRAGMA busy_timeout = 0")
            try:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            finally:
                if not wait:
                    self._db.execute(f"PRAGMA busy_timeout = {int(waits)}")
        except sqlite3.Error as exc:
            if _busy(exc):  # another process holds it: try again with the next rows
                if not self._pending:
                    log.warning(
                        "embedding cache %s is being written by another process (%s): the "
                        "vectors encoded meanwhile are cached once it is done",
                        self.path,
                        exc,
                    )
                self._pending = rows
                return
            self._unwritable = True  # read-only, full: not fatal, but each try would fail
            self._pending = []
            log.warning(
                "embedding cache %s cannot be written (%s): the vectors encoded from here on "
                "are not cached",
                self.path,
                exc,
            )
            return
        self._pending = []

    def __len__(self) -> int:
        try:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        except sqlite3.Error as exc:
            raise KgrecError(f"embedding cache {self.path} cannot be read ({exc})") from None

    def close(self) -> None:
        """Write the vectors another process's lock kept back (waiting for it, as a put
        does), then close the file."""
        try:
            if self._pending and not self._unwritable:
                count = len(self._pending)
                self._write(self._pending, wait=True)
                if self._pending:
                    log.warning(
                        "embedding cache %s is still being written by another process: %s "
                        "vectors encoded here are not cached",
                        self.path,
                        f"{count:,}",
                    )
        finally:
            self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
