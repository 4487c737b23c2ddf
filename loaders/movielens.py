"""Raw MovieLens folders as GroupLens ships them (ISO-8859-1 text; a file re-saved as UTF-8,
valid UTF-8 with non-ASCII bytes, is read as UTF-8, and one of UTF-8 with stray bytes refused:
see :func:`encoding_of`).

- ml-100k: ``u.data`` (user, item, rating, timestamp; tab-separated), ``u.item`` (``|``-separated:
  id, title, release date, video release date, IMDb URL, 19 genre flags; genre names from
  ``u.genre`` when present), ``u.user`` (id, age, gender, occupation, zip code).
- ml-1m: ``ratings.dat``, ``movies.dat`` (genres ``|``-separated), ``users.dat`` (id, gender,
  age, occupation, zip code), all ``::``-separated.

Which one is detected by the files present; the item and user files are optional.
"""

from __future__ import annotations

import codecs
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from graph_schema.errors import InputError
from graph_schema.tables import GraphTables
from graph_schema.validate import where
from loaders.build import Parts, build
from loaders.files import (
    check_interactions,
    read_bytes,
    read_delimited,
    read_user_links,
    split_tokens,
    to_year,
)
from loaders.report import LoadReport
from loaders.rules import DomainRule

log = logging.getLogger(__name__)

ENCODING = "latin-1"
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
FILES = {
    "ml-100k": ("u.data", "u.item", "u.user"),
    "ml-1m": ("ratings.dat", "movies.dat", "users.dat"),
}
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")


def detect(folder: str | Path) -> str:
    """``"ml-100k"`` or ``"ml-1m"``, by the files in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder of MovieLens files", file=str(folder))
    for version, names in FILES.items():
        if any((folder / name).is_file() for name in names):
            return version
    wanted = " or ".join("/".join(names) for names in FILES.values())
    raise InputError(f"no MovieLens files here ({wanted})", file=str(folder))


def load(
    path: str | Path,
    *,
    domain: str | None = None,
    domain_rule: DomainRule | None = None,
    user_links: str | Path | None = None,
    report: LoadReport | None = None,
) -> GraphTables:
    """The canonical tables of a raw MovieLens folder (ml-100k or ml-1m). ``domain``
    defaults to the version (``ml-100k`` or ``ml-1m``: the domain of the same dataset loaded
    from RecBole's files) unless ``domain_rule`` splits the items into domains."""
    folder = Path(path)
    report = report if report is not None else LoadReport()
    version = detect(folder)
    parts = _ml100k(folder) if version == "ml-100k" else _ml1m(folder)
    if domain is None and domain_rule is None:
        domain = version
    if parts.interactions is not None:
        parts.interactions = check_interactions(parts.interactions, report)
    if user_links is not None:
        parts.user_links = read_user_links(user_links)
    return build(parts, domain=domain, rule=domain_rule, report=report)


def encoding_of(path: Path) -> str:
    """The encoding to read a raw MovieLens file in: GroupLens' ISO-8859-1, but for a file that
    is valid UTF-8 and holds non-ASCII bytes (one re-saved as UTF-8: ISO-8859-1 text with
    accents is almost never valid UTF-8, as an accented letter between ASCII ones is not), read
    as UTF-8 with an INFO line, never as ``CafÃ©``; one that holds both valid multi-byte
    UTF-8 and invalid bytes is refused (:func:`_refuse_mixed`). A file that starts with a
    UTF-8 byte-order mark: :func:`loaders.files.read_delimited` reads it as UTF-8, with a
    warning."""
    raw = read_bytes(path)  # (an error for a compressed file, not one of its bytes)
    if raw.isascii() or raw.startswith(codecs.BOM_UTF8):
        return ENCODING
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        _refuse_mixed(path, raw, error.start)
        return ENCODING
    log.info("%s is UTF-8 (not ISO-8859-1, as GroupLens ships it): read as UTF-8", path)
    return "utf-8"


def _refuse_mixed(path: Path, raw: bytes, start: int) -> None:
    """An error when ``raw`` (not valid UTF-8: its first invalid sequence at byte ``start``)
    holds valid multi-byte UTF-8 sequences too: a UTF-8 file with a stray byte, whose every
    UTF-8 character ISO-8859-1 would turn into two (``CafÃ©``). GroupLens' ISO-8859-1 holds
    none (an accented capital letter followed by a symbol, ``Ã©``, is no text)."""
    text = raw.decode("utf-8", "surrogateescape")  # invalid bytes: U+DC80-U+DCFF
    utf8 = next((c for c in text if ord(c) > 127 and not 0xDC80 <= ord(c) <= 0xDCFF), None)
    if utf8 is None:
        return
    line_start = raw.rfind(b"\n", 0, start) + 1
    raise InputError(
        f"the file holds UTF-8 characters ({utf8!r}) and bytes that are not UTF-8 (the "
        f"first: 0x{raw[start]:02X}, byte {start - line_start + 1:,} of the line): read as "
        "ISO-8859-1, as GroupLens ships it, each UTF-8 character would become two ('Ã©' for "
        "'é'); re-save the file as UTF-8 (correcting the stray bytes) or as ISO-8859-1",
        file=str(path),
        line=raw.count(b"\n", 0, start) + 1,
    )


def _read(path: Path, sep: str, names: tuple[str, ...], **options: object) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return read_delimited(
        path, sep=sep, header=False, names=names, encoding=encoding_of(path), **options
    )


def _ml100k(folder: Path) -> Parts:
    genres = _genre_names(folder / "u.genre")
    items = _read(
        folder / "u.item",
        "|",
        ("item_id", "title", "release_date", "video_release_date", "imdb_url", *genres),
    )
    if items is not None:
        flags = items[list(genres)]
        bad = ~flags.isin(["0", "1"]).to_numpy()
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise InputError(
                f"a genre flag must be 0 or 1, not {flags.iat[row, column]!r}",
                field=genres[column],
                **where(items, int(row)),
            )
        names = np.asarray(genres, dtype=object)
        lists = [names[row].tolist() for row in flags.to_numpy() == "1"]
        # the year ends the release date (01-Jan-1995): messages name the field and quote
        # the date as u.item has them
        years = items["release_date"].str.strip().str[-4:]
        items = items.drop(columns=[*genres, "video_release_date"]).assign(
            genres=lists,
            year=to_year(items, "release_date", strict=False, part=years),
        )
    return Parts(
        interactions=_read(
            folder / "u.data", "\t", INTERACTION_COLUMNS, floats=("rating", "timestamp")
        ),
        items=items,
        users=_read(folder / "u.user", "|", ("user_id", "age", "gender", "occupation", "zip_code")),
    )


def _genre_names(path: Path) -> tuple[str, ...]:
    """The genre names of ``u.genre`` (``name|index`` lines, in flag order), else the ml-100k
    list."""
    if not path.is_file():
        return ML100K_GENRES
    table = read_delimited(
        path, sep="|", header=False, names=("genre", "index"), encoding=encoding_of(path)
    )
    return tuple(table["genre"])


def _ml1m(folder: Path) -> Parts:
    items = _read(folder / "movies.dat", "::", ("item_id", "title", "genres"))
    if items is not None:
        years = items["title"].str.extract(r"\((\d{4})\)\s*$", expand=False)
        items = items.assign(
            genres=split_tokens(items["genres"], "|"),
            year=to_year(items.assign(year=years), "year", strict=False),
        )
    return Parts(
        interactions=_read(
            folder / "ratings.dat", "::", INTERACTION_COLUMNS, floats=("rating", "timestamp")
        ),
        items=items,
        users=_read(
            folder / "users.dat", "::", ("user_id", "gender", "age", "occupation", "zip_code")
        ),
    )
