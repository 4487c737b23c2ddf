"""Knowledge-graph triple files: head, relation, tail (TSV, or CSV by extension; header optional:
a first line whose fields name the columns, as :data:`TRIPLE_HEADER` spells them, is a header).

With a link file (item_id, entity_id; a header optional, detected as the triples' is, with the
other names of :data:`LINK_HEADER`), an entity tied to an item *is* that item: its triples attach
to the Item of the load's domain (created if the store does not have it yet).
"""

from __future__ import annotations

from pathlib import Path

from graph_schema.tables import GraphTables
from loaders.build import Parts, build
from loaders.files import read_columns
from loaders.report import LoadReport

TRIPLE_COLUMNS = ("head", "relation", "tail")
# the other names a header may give the triple columns (any case; RecBole's `head_id:token`
# matches `head`): subject predicate object, source relation target, h r t, s p o
TRIPLE_HEADER = {
    "head": ("subject", "source", "h", "s"),
    "relation": ("predicate", "property", "r", "p"),
    "tail": ("object", "target", "t", "o"),
}
LINK_COLUMNS = ("item_id", "entity_id")
# the other names a link file's header may give its columns, matched as TRIPLE_HEADER's are
# (`movie_id freebase_id`, `movieId`, RecBole's `item_id:token entity_id:token`)
LINK_HEADER = {
    "item_id": ("movie", "film", "book", "product", "song", "track", "music", "artist", "poi"),
    "entity_id": ("freebase", "wikidata", "wiki", "dbpedia", "kg", "kb", "mid", "qid", "uri"),
}


def load(
    path: str | Path,
    *,
    links: str | Path | None = None,
    domain: str | None = None,
    report: LoadReport | None = None,
) -> GraphTables:
    """The canonical tables of a triple file and optional link file; linked items go to
    ``domain`` (default ``"default"``)."""
    parts = Parts(triples=read_columns(path, TRIPLE_COLUMNS, aliases=TRIPLE_HEADER))
    if links is not None:
        parts.links = read_columns(links, LINK_COLUMNS, aliases=LINK_HEADER)
    return build(parts, domain=domain, report=report)
