"""Templates that turn a node's fields into the text a language model embeds.

A template is a list of *parts*, each a Python format string such as ``"Genres: {genres}."``.
A part is kept only when every field it names has a value, and the kept parts are joined by
single spaces; so a film without genres reads ``"Heat (1995)."``, not ``"Heat (1995). Genres: ."``.
A node whose parts are all dropped has no text: it gets no vector (see :mod:`kgrec.text.embed`).

Fields (every value is a string; missing values are empty):

Item
    ``uid``, ``item_id``, ``domain``, ``title``, ``year``, ``genres`` (comma-separated),
    ``label`` (title with the year when known, e.g. ``Toy Story (1995)``), ``entities``
    (names of the named entities linked to the item, comma-separated), ``attributes`` (the
    item table's other columns as ``name: value; ...``), and each such column by its name
    (a column named like one of these fields, e.g. ``label``, is in ``attributes`` only: the
    field keeps its meaning).
Entity (``entity`` for entities with a name, ``entity_unnamed`` for those without)
    ``entity_id``, ``name``, ``context`` (its place in the knowledge graph, e.g.
    ``actor in Toy Story (1995), Heat (1995)``; see :func:`kgrec.text.nodes.relation_phrase`).
User
    ``user_id``, ``attributes`` (the user table's other columns), each such column by its name,
    ``items`` (labels of a few of the user's items: best rated, then most recent). ``items``
    reads every interaction in the store, valid and test ones included: it is not in the
    default template, and vectors built with it must not be a trained model's input (they
    would show the model the items it is tested on); they suit search and serving.

Templates come from :data:`DEFAULT_TEMPLATES` or a JSON/TOML file (:func:`load_templates`) with
any of the keys ``item``, ``entity``, ``entity_unnamed``, ``user``, each a string or a list of
strings; keys left out keep their default.

A field may carry a conversion (``!s``, ``!r``, ``!a``) and a string format spec such as
``{title:.40}`` (at most 40 characters) or ``{year:>4}``; a spec that does not apply to text
(``{title:d}``), an unknown conversion (``{title!z}``), a field inside a spec and a width above
:data:`MAX_WIDTH` are errors when the template is read. A rendered text is cut at
:data:`MAX_TEXT_CHARS` characters (far beyond what a sentence-embedding model reads).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from kgrec.errors import InputError
from kgrec.files import not_utf8

ITEM_FIELDS = frozenset(
    {"uid", "item_id", "domain", "title", "year", "genres", "label", "entities", "attributes"}
)
ENTITY_FIELDS = frozenset({"entity_id", "name", "context"})
USER_FIELDS = frozenset({"user_id", "attributes", "items"})
MAX_WIDTH = 1_000  # the widest format width a template may ask for ({title:>1000})
MAX_TEXT_CHARS = 100_000  # a rendered text is cut here (a model reads at most a few thousand)
CONVERSIONS = ("s", "r", "a")
_SPEC = re.compile(
    r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?[a-zA-Z%]?",
    re.DOTALL,
)


@dataclass(frozen=True)
class Template:
    """Parts of one kind's text; ``source`` names the file it came from, for error messages."""

    parts: tuple[str, ...]
    name: str
    source: str | None = None

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(f for part in self.parts for f in _part_fields(part))

    def check(self, allowed: frozenset[str]) -> None:
        """Raise :class:`InputError` if the template names a field outside ``allowed``."""
        unknown = sorted(self.fields - allowed)
        if unknown:
            raise InputError(
                f"unknown field(s) {', '.join(unknown)}; available: {', '.join(sorted(allowed))}",
                file=self.source,
                field=self.name,
            )

    def render(self, values: Mapping[str, str]) -> str:
        """The kept parts, formatted and joined; ``""`` when none is kept."""
        kept = [
            part.format_map(values)
            for part in self.parts
            if all(values.get(f) for f in _part_fields(part))
        ]
        return " ".join(p.strip() for p in kept if p.strip())[:MAX_TEXT_CHARS]


@dataclass(frozen=True)
class Templates:
    item: Template
    entity: Template
    entity_unnamed: Template
    user: Template


def _part_fields(part: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(part) if name is not None]


def make_template(name: str, value: object, *, source: str | None = None) -> Template:
    """A template from a string or a list of strings, checked to be plain named fields."""
    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or not all(isinstance(p, str) for p in parts):
        raise InputError("a template is a string or a list of strings", file=source, field=name)
    if not any(part.strip() for part in parts):  # it would give every node no text
        raise InputError("the template is empty", file=source, field=name)
    for part in parts:
        try:
            part.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate (JSON "\ud800")
            raise InputError(
                f"the template holds a character that is not text ({exc.reason}: "
                f"{part[exc.start : exc.end]!r})",
                file=source,
                field=name,
            ) from None
        try:
            parsed = [p for p in string.Formatter().parse(part) if p[1] is not None]
        except ValueError as exc:
            raise InputError(f"bad format string {part!r}: {exc}", file=source, field=name) from exc
        for _, field_name, spec, conversion in parsed:
            if not field_name.isidentifier():
                raise InputError(
                    f"{{{field_name}}} in {part!r}: fields are plain names like {{title}}",
                    file=source,
                    field=name,
                )
            problem = _spec_problem(spec or "", conversion)
            if problem:
                raise InputError(
                    f"{{{field_name}}} in {part!r}: {problem}", file=source, field=name
                )
    return Template(tuple(parts), name, source)


def _spec_problem(spec: str, conversion: str | None) -> str | None:
    """Why a field's conversion and format spec cannot format text, or None if they can."""
    if conversion is not None and conversion not in CONVERSIONS:
        return f"unknown conversion '!{conversion}' (use !s, !r, !a or none); every field is text"
    if "{" in spec or "}" in spec:
        return "a format spec may not hold fields"
    match = _SPEC.fullmatch(spec)
    if match and int(match["width"] or 0) > MAX_WIDTH:
        return f"width {int(match['width']):,} is above the limit of {MAX_WIDTH:,}"
    try:
        format("", spec)
    except ValueError as exc:
        return f"format spec {spec!r} does not apply to text ({exc}); every field is text"
    return None


DEFAULT_TEMPLATES = Templates(
    item=make_template(
        "item", ["{label}.", "Genres: {genres}.", "{attributes}.", "Related: {entities}."]
    ),
    entity=make_template("entity", "{name}"),
    entity_unnamed=make_template("entity_unnamed", "{context}"),
    # not {items}: it reads every interaction in the store, held-out ones included, so a model
    # that takes user vectors as input (--text-input, cross-domain) would see its test items
    user=make_template("user", "User with {attributes}."),
)


# the templates that make each node kind's texts (the fields of Templates)
KIND_TEMPLATES = {"Item": ("item",), "Entity": ("entity", "entity_unnamed"), "User": ("user",)}


# the fields of each kind's texts that are read from the interactions (held-out ones included)
INTERACTION_FIELDS = {"User": frozenset({"items"})}


def reads_interactions(templates: Templates, kind: str) -> bool:
    """Whether ``kind``'s texts name a field read from the store's interactions, valid and
    test ones included (a user template with ``{items}``): their vectors must not be a
    trained model's input. A store records it with the vectors
    (:func:`kgrec.text.embed.model_record`)."""
    fields_read = INTERACTION_FIELDS.get(kind, frozenset())
    return any(getattr(templates, name).fields & fields_read for name in KIND_TEMPLATES[kind])


def template_digest(templates: Templates, kind: str) -> str:
    """A short hash of the templates that make ``kind``'s texts (their parts, in order):
    equal for the same templates wherever they came from, and different when any part
    differs. A store records it with the vectors (:func:`kgrec.text.embed.model_record`)."""
    parts = {name: list(getattr(templates, name).parts) for name in KIND_TEMPLATES[kind]}
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _toml_line(exc: tomllib.TOMLDecodeError, raw: str) -> int | None:
    """The line of a TOML error: Python 3.11's TOMLDecodeError has no ``lineno``, only its
    text ("... (at line 2, column 8)", or "(at end of document)": the last line)."""
    found = re.search(r"\(at line (\d+), column \d+\)$", str(exc))
    if found:
        return int(found[1])
    return max(len(raw.splitlines()), 1) if str(exc).endswith("(at end of document)") else None


def load_templates(path: str | Path, base: Templates = DEFAULT_TEMPLATES) -> Templates:
    """``base`` with the templates a ``.json`` or ``.toml`` file sets replaced."""
    path = Path(path)
    source = str(path)
    try:
        # utf-8-sig: a byte-order mark (some editors write one) is no part of it, as in the
        # loaders' files and the split files
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read template file: {exc.strerror}", file=source) from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(exc, source) from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(raw)
        elif path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            raise InputError("template file must end in .json or .toml", file=source)
    except json.JSONDecodeError as exc:
        raise InputError(exc.msg, file=source, line=exc.lineno) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(exc), file=source, line=_toml_line(exc, raw)) from exc
    if not isinstance(data, dict):
        raise InputError("a template file holds a table/object of templates", file=source)
    known = {f.name for f in fields(Templates)}
    for key in data:
        if key not in known:
            raise InputError(
                f"unknown template; use {', '.join(sorted(known))}", file=source, field=key
            )
    return replace(base, **{k: make_template(k, v, source=source) for k, v in data.items()})
