"""Every Cypher statement of the Neo4j store.

Values always travel as ``$parameters``. The few names spliced into the text are node labels
and property names that pass :mod:`graph_schema.names` (allow-list and backtick escaping);
nothing from data ever becomes Cypher text. Writes are batched ``UNWIND $rows AS row ...``.

Graph shape::

    (:User {user_id, ...attributes})-[:INTERACTED {rating, timestamp}]->(:Item)
    (:Item {uid, domain, item_id, title, year, genres, entity_id, ...attributes})
        -[:IN_DOMAIN]->(:Domain {name})
    (:Item|Entity)-[:RELATED {relation}]->(:Item|Entity)        (:Entity {entity_id, name})
    (:User)-[:RECOMMENDED {score, rank, model, run}]->(:Item)
"""

from __future__ import annotations

from graph_schema.names import RESERVED_PREFIX, escape_name, label, prop
from kgrec.store.canonical import STAGING_PREFIX

# node kind -> its key property in Neo4j
KEY_PROPERTY = {"User": "user_id", "Item": "uid", "Entity": "entity_id", "Domain": "name"}


def _match(kind: str, var: str, key: str) -> str:
    return f"MATCH ({var}:{label(kind)} {{{prop(KEY_PROPERTY[kind])}: {key}}})"


# -- writing the graph ---------------------------------------------------------------------
# Node rows are {key, props}: props holds only the values that are not missing, so `SET +=`
# adds and replaces but never erases (the merge rule of kgrec.store.canonical); but for a null
# of each attribute a write clears (kgrec load --clear-empty), which `SET +=` removes.

MERGE_DOMAINS = "UNWIND $rows AS row MERGE (d:Domain {name: row.key})"
MERGE_USERS = "UNWIND $rows AS row MERGE (u:User {user_id: row.key}) SET u += row.props"
MERGE_ENTITIES = "UNWIND $rows AS row MERGE (e:Entity {entity_id: row.key}) SET e += row.props"
MERGE_ITEMS = """
UNWIND $rows AS row
MATCH (d:Domain {name: row.props.domain})
MERGE (i:Item {uid: row.key})
SET i += row.props
MERGE (i)-[:IN_DOMAIN]->(d)
"""

# Relationships are written in "fan-out" rows: one start node (row.start) with all of its
# relationships of the write, as parallel lists: end nodes as positions in $ends (the chunk's
# distinct end keys, looked up once per chunk rather than once per relationship; a missing one is
# a null node, which CREATE refuses) and one list per property. A start node's relationships are
# so committed together, in one chunk.
#
# Each statement first takes the start node's write lock (setting and removing a property), so
# every writer of that node's relationships waits for the others to commit, and only then looks
# at what is there: a start node without relationships of the kind ("fresh", the fast path of a
# first load) gets them by CREATE without matching; any other gets, per relationship, the
# existing one updated, surplus copies deleted (a graph damaged by an older kgrec, or by writes
# made around kgrec, is repaired by loading again), or a new one created. So re-running a
# committed chunk (a retry, the same write again) changes nothing, and two writers of the same
# start node at once (which the load lock, LOCK_LOAD, already prevents for kgrec loads) still
# leave each relationship once.
_LOCK = "SET {node}._kgrec_lock = true REMOVE {node}._kgrec_lock"


def _fan_out(
    start: str,
    end: str,
    values: tuple[str, ...],
    body: str,
    *,
    node: str,
    other: str,
    fresh: str | None = None,
) -> str:
    """A fan-out statement: the chunk's end nodes collected in $ends order, then per start node
    (``node``, locked; ``fresh``, when given, evaluated under the lock as the boolean ``fresh``)
    one row per relationship, with the end node as ``other`` and each column of ``values`` under
    its own name, on which ``body`` acts."""
    columns = "".join(f", row.{name}[k] AS {name}" for name in values)
    carried = ", fresh" if fresh else ""
    return f"""
UNWIND range(0, size($ends) - 1) AS position
OPTIONAL {_match(end, "e", "$ends[position]")}
WITH position, e ORDER BY position
WITH collect([e]) AS ends
UNWIND $rows AS row
{_match(start, node, "row.start")}
{_LOCK.format(node=node)}
WITH {node}, row, ends{f", {fresh} AS fresh" if fresh else ""}
CALL ({node}, row, ends{carried}) {{
  UNWIND range(0, size(row.ends) - 1) AS k
  WITH {node}{carried}, ends[row.ends[k]][0] AS {other}{columns}
  {body}
}}
"""


def _create_or_update(found: str, create: str, update: str) -> str:
    """The body of a fan-out write: ``found`` lists the existing copies of the relationship
    (none when the start node is fresh); all but the first are deleted, the first is updated by
    ``update`` (on ``r``), or ``create`` makes it."""
    return f"""WITH *, CASE WHEN fresh THEN [] ELSE {found} END AS found
  FOREACH (extra IN found[1..] | DELETE extra)
  FOREACH (r IN found[0..1] | {update})
  FOREACH (_ IN CASE WHEN size(found) = 0 THEN [1] ELSE [] END | {create})"""


WRITE_INTERACTIONS = _fan_out(
    "User",
    "Item",
    ("rating", "timestamp"),
    _create_or_update(
        found="[(u)-[x:INTERACTED]->(i) | x]",
        create="CREATE (u)-[:INTERACTED {rating: rating, timestamp: timestamp}]->(i)",
        update="SET r.rating = coalesce(rating, r.rating), "
        "r.timestamp = coalesce(timestamp, r.timestamp)",
    ),
    node="u",
    other="i",
    fresh="NOT EXISTS { (u)-[:INTERACTED]->() }",
)

# (head_kind, tail_kind) -> statement. "Fresh" is per tail kind: the same head may also have
# relations to the other kind, written by the other statement. (The existing copies are found by
# expanding between the two bound nodes, not by MERGE: with graph_schema's index on
# RELATED(relation), the planner, costing an empty graph, plans MERGE's match as an index seek on
# the relation, which scans every relationship of that relation written so far in the
# transaction, for each row.)
WRITE_KNOWLEDGE = {
    (head, tail): _fan_out(
        head,
        tail,
        ("relation",),
        _create_or_update(
            found="[(h)-[x:RELATED]->(t) WHERE x.relation = relation | x]",
            create="CREATE (h)-[:RELATED {relation: relation}]->(t)",
            update="SET r.relation = relation",
        ),
        node="h",
        other="t",
        fresh=f"NOT EXISTS {{ (h)-[:RELATED]->(:{label(tail)}) }}",
    )
    for head in ("Item", "Entity")
    for tail in ("Item", "Entity")
}

# An entity tied to an item is that item, across loads (kgrec.store.canonical.attach_to_items):
# the items tied to the entities $keys, and the items $uids tied to an entity (the ties a load
# may not change, canonical.check_entity_ties); and, per row {entity, uid} of a load's tied
# items, an Entity node an earlier load made for the entity handing its relations to the item,
# then going.
LINKED_ITEMS = f"""
MATCH (i:{label("Item")}) WHERE i.entity_id IN $keys
RETURN i.entity_id AS entity, i.{prop(KEY_PROPERTY["Item"])} AS uid
UNION
MATCH (i:{label("Item")}) WHERE i.{prop(KEY_PROPERTY["Item"])} IN $uids AND i.entity_id IS NOT NULL
RETURN i.entity_id AS entity, i.{prop(KEY_PROPERTY["Item"])} AS uid
"""
# the names of the Entity nodes of $keys that have one (those a load's ties take: the nodes go)
ENTITY_NAMES = f"""
UNWIND $keys AS key
{_match("Entity", "e", "key")}
WITH e WHERE e.name IS NOT NULL
RETURN e.{prop(KEY_PROPERTY["Entity"])} AS entity_id, e.name AS name
"""
ATTACH_TO_ITEMS = f"""
UNWIND $rows AS row
{_match("Entity", "e", "row.entity")}
{_match("Item", "i", "row.uid")}
CALL (e, i) {{
  MATCH (e)-[r:RELATED]->(t)
  WITH i, r, CASE WHEN t = e THEN i ELSE t END AS t
  MERGE (i)-[:RELATED {{relation: r.relation}}]->(t)
}}
CALL (e, i) {{
  MATCH (h)-[r:RELATED]->(e) WHERE h <> e
  MERGE (h)-[:RELATED {{relation: r.relation}}]->(i)
}}
DETACH DELETE e
"""

# kind -> the keys of $keys that name no node of that kind
MISSING_KEYS = {
    kind: f"""
UNWIND $keys AS key
OPTIONAL {_match(kind, "n", "key")}
WITH key WHERE n IS NULL
RETURN key
"""
    for kind in KEY_PROPERTY
}

# Attribute types across loads (graph_schema.merge): what the values `value` of a property
# hold, counted (text, lists, lists of text only, other values, and values or lists holding
# text, booleans, numbers); per name of $names over every node of the kind, and per column
# {name, keys} of $columns over the nodes of those keys (the ones a load replaces, which the
# caller takes away); the nodes whose $name is not of the column's type; and setting
# properties from rows {key, props}.
VALUE_COUNTS = ("text", "lists", "text_lists", "other", "holds_text", "booleans", "numbers")


def _value_counts(group: str = "") -> str:
    """Cypher that counts what the values `value` hold (the columns of VALUE_COUNTS), grouped
    by ``group`` (``"key, "``: per key; empty: one row)."""
    return f"""
  WITH {group}value, CASE WHEN value IS :: LIST<ANY> THEN value ELSE [value] END AS elements
  RETURN {group}count(CASE WHEN value IS :: STRING THEN 1 END) AS text,
         count(CASE WHEN value IS :: LIST<ANY> THEN 1 END) AS lists,
         count(CASE WHEN value IS :: LIST<STRING NOT NULL> THEN 1 END) AS text_lists,
         count(CASE WHEN value IS :: STRING OR value IS :: LIST<ANY> THEN NULL ELSE 1 END)
           AS other,
         count(CASE WHEN any(x IN elements WHERE x IS :: STRING) THEN 1 END) AS holds_text,
         count(CASE WHEN any(x IN elements WHERE x IS :: BOOLEAN) THEN 1 END) AS booleans,
         count(CASE WHEN any(x IN elements WHERE x IS :: INTEGER OR x IS :: FLOAT) THEN 1 END)
           AS numbers"""


PROPERTY_TYPES = {
    kind: f"""
UNWIND $names AS name
CALL (name) {{
  MATCH (n:{label(kind)}) WHERE n[name] IS NOT NULL
  WITH n[name] AS value{_value_counts()}
}}
RETURN name, {", ".join(VALUE_COUNTS)}
"""
    for kind in ("User", "Item", "Entity")
}
KEYS_PROPERTY_TYPES = {
    kind: f"""
UNWIND $columns AS column
CALL (column) {{
  UNWIND column.keys AS key
  {_match(kind, "n", "key")} WHERE n[column.name] IS NOT NULL
  WITH n[column.name] AS value{_value_counts()}
}}
RETURN column.name AS name, {", ".join(VALUE_COUNTS)}
"""
    for kind in ("User", "Item", "Entity")
}
# the values of property $name that the column's type ($lists, $text) would change
UNTYPED_VALUES = {
    kind: f"""
MATCH (n:{label(kind)}) WHERE n[$name] IS NOT NULL
  AND ($lists AND NOT n[$name] IS :: LIST<ANY>
       OR $text AND NOT n[$name] IS :: STRING AND NOT n[$name] IS :: LIST<STRING NOT NULL>)
RETURN n.{prop(KEY_PROPERTY[kind])} AS key, n[$name] AS value
"""
    for kind in ("User", "Item", "Entity")
}
SET_PROPERTIES = {
    kind: f"UNWIND $rows AS row {_match(kind, 'n', 'row.key')} SET n += row.props"
    for kind in ("User", "Item", "Entity")
}

# -- reading the graph ---------------------------------------------------------------------

# kind -> the property names its nodes have
NODE_KEYS = {
    kind: f"MATCH (n:{label(kind)}) UNWIND keys(n) AS key RETURN DISTINCT key"
    for kind in ("User", "Item", "Entity")
}
# kind -> the values of properties $keys of all its nodes, one list per property
NODE_COLUMNS = {
    kind: f"""
MATCH (n:{label(kind)})
WITH collect([key IN $keys | n[key]]) AS rows
RETURN [c IN range(0, size($keys) - 1) | [row IN rows | row[c]]] AS columns
"""
    for kind in ("User", "Item", "Entity")
}
# the property names of all Items but $skip (their vectors), with what their values hold
# (VALUE_COUNTS, and the values with a number that is not whole): items($uids) types a few
# items' columns as the whole table's
ITEM_KEY_TYPES = f"""
MATCH (n:Item) UNWIND [key IN keys(n) WHERE NOT key IN $skip] AS key
WITH key, n[key] AS value{_value_counts("key, ")},
         count(CASE WHEN any(x IN elements WHERE x IS :: FLOAT AND x <> round(x)) THEN 1 END)
           AS fractions
"""
# the values of properties $keys of the items $uids (those the store holds), as NODE_COLUMNS
ITEM_COLUMNS = """
UNWIND $uids AS uid
MATCH (n:Item {uid: uid})
WITH collect([key IN $keys | n[key]]) AS rows
RETURN [c IN range(0, size($keys) - 1) | [row IN rows | row[c]]] AS columns
"""
DOMAINS = "MATCH (d:Domain) RETURN d.name AS domain"
# Big reads come one record per start node with its relationships as parallel lists: the driver
# decodes lists of values several times faster than as many records.
INTERACTIONS = """
MATCH (u:User)
WITH u, [(u)-[r:INTERACTED]->(i:Item) | [i.uid, r.rating, r.timestamp]] AS rows
WHERE size(rows) > 0
RETURN u.user_id AS user_id, [x IN rows | x[0]] AS item_uid, [x IN rows | x[1]] AS rating,
       [x IN rows | x[2]] AS timestamp
"""
# a few users' interactions (fold-in of users loaded after a run was trained)
# a record per user (per item below) with its list of the other ends: the driver spends most of
# a read on each record, and a record per interaction took 6-9 s for ml-1m's 6,040 users
USER_INTERACTIONS = """
UNWIND $users AS id
MATCH (u:User {user_id: id})
RETURN u.user_id AS user_id, [(u)-[:INTERACTED]->(i:Item) | i.uid] AS item_uid
"""


def _first(key: str) -> str:
    """The rows sorted by ``key``, the first $limit (null: all, the largest integer Cypher
    holds)."""
    return f"ORDER BY {key} LIMIT coalesce($limit, 9223372036854775807)"


# the users' ids, sorted: all, or those of $among the graph holds; the first $limit
USER_IDS = f"MATCH (u:User) RETURN u.user_id AS user_id {_first('user_id')}"
USER_IDS_AMONG = f"""
UNWIND $among AS id
MATCH (u:User {{user_id: id}})
RETURN u.user_id AS user_id {_first("user_id")}
"""
# the entities' ids, sorted: an Entity's that a triple reaches (not one of a name alone) and an
# item's tie (an entity tied to an item is that item); all, or those of $among the graph holds;
# the first $limit (null: all)
ENTITY_IDS = f"""
CALL () {{
  MATCH (e:Entity) WHERE EXISTS {{ (e)-[:RELATED]-() }}
  RETURN e.entity_id AS entity_id
  UNION
  MATCH (i:Item) WHERE i.entity_id IS NOT NULL RETURN i.entity_id AS entity_id
}}
RETURN entity_id {_first("entity_id")}
"""
ENTITY_IDS_AMONG = f"""
CALL () {{
  UNWIND $among AS id
  MATCH (e:Entity {{entity_id: id}}) WHERE EXISTS {{ (e)-[:RELATED]-() }}
  RETURN e.entity_id AS entity_id
  UNION
  MATCH (i:Item) WHERE i.entity_id IN $among
  RETURN i.entity_id AS entity_id
}}
RETURN entity_id {_first("entity_id")}
"""


def _name_only(match: str) -> str:
    """How many of the Entity nodes ``match`` binds as ``e`` are of a name alone (a name, no
    RELATED edge, no item tied to them: a tie takes the entity's node, so ``tied`` holds none
    but in a store written before that), and the ids of the first $limit, sorted. A blank
    name is stored as none (``blank_as_missing``)."""
    alone = "e.name IS NOT NULL AND NOT EXISTS { (e)-[:RELATED]-() } AND NOT e.entity_id IN tied"
    return f"""
CALL () {{
  MATCH (i:Item) WHERE i.entity_id IS NOT NULL
  MATCH (e:Entity {{entity_id: i.entity_id}})
  RETURN collect(e.entity_id) AS tied
}}
CALL (tied) {{
  {match} WHERE {alone}
  RETURN count(e) AS count
}}
CALL (tied) {{
  {match} WHERE {alone}
  WITH e.entity_id AS entity_id {_first("entity_id")}
  RETURN collect(entity_id) AS ids
}}
RETURN count, ids
"""


# the entities of a name alone (a load of names made them, no triple reaches them): all, or
# those of $among; how many, and the ids of the first $limit (null: all)
NAME_ONLY_ENTITIES = _name_only("MATCH (e:Entity)")
NAME_ONLY_ENTITIES_AMONG = _name_only("UNWIND $among AS id MATCH (e:Entity {entity_id: id})")
ITEM_INTERACTIONS = """
UNWIND $items AS uid
MATCH (i:Item {uid: uid})
RETURN [(u:User)-[:INTERACTED]->(i) | u.user_id] AS user_id, i.uid AS item_uid
"""
KNOWLEDGE = """
MATCH (h) WHERE h:Item OR h:Entity
WITH h, [(h)-[r:RELATED]->(t) |
         [r.relation, CASE WHEN t:Item THEN 'Item' ELSE 'Entity' END,
          CASE WHEN t:Item THEN t.uid ELSE t.entity_id END]] AS rows
WHERE size(rows) > 0
RETURN CASE WHEN h:Item THEN 'Item' ELSE 'Entity' END AS head_kind,
       CASE WHEN h:Item THEN h.uid ELSE h.entity_id END AS head_key,
       [x IN rows | x[0]] AS relation, [x IN rows | x[1]] AS tail_kind,
       [x IN rows | x[2]] AS tail_key
"""

COUNTS = """
RETURN COUNT { (:User) } AS User, COUNT { (:Item) } AS Item,
       COUNT { (:Entity) } AS Entity, COUNT { (:Domain) } AS Domain,
       COUNT { ()-[:INTERACTED]->() } AS INTERACTED, COUNT { ()-[:RELATED]->() } AS RELATED,
       COUNT { ()-[:IN_DOMAIN]->() } AS IN_DOMAIN, COUNT { ()-[:RECOMMENDED]->() } AS RECOMMENDED
"""
DOMAIN_COUNTS = """
MATCH (d:Domain)
CALL (d) {
  OPTIONAL MATCH (i:Item)-[:IN_DOMAIN]->(d)
  RETURN count(i) AS items, sum(COUNT { (i)<-[:INTERACTED]-(:User) }) AS interactions
}
CALL (d) {
  OPTIONAL MATCH (u:User)-[:INTERACTED]->(:Item)-[:IN_DOMAIN]->(d)
  RETURN count(DISTINCT u) AS users
}
RETURN d.name AS domain, items, users, interactions
"""
# items per domain alone (GraphStore.item_domains), without DOMAIN_COUNTS' walk of every
# interaction: read by every load's domain checks and every recommend of a content student
ITEMS_PER_DOMAIN = """
MATCH (d:Domain)
RETURN d.name AS domain, COUNT { (:Item)-[:IN_DOMAIN]->(d) } AS items
ORDER BY domain
"""
RELATION_COUNTS = "MATCH ()-[r:RELATED]->() RETURN r.relation AS relation, count(*) AS n"

# -- vectors -------------------------------------------------------------------------------

SET_VECTORS = {
    kind: f"""
UNWIND $rows AS row
{_match(kind, "n", "row.key")}
CALL db.create.setNodeVectorProperty(n, $property, row.vector)
"""
    for kind in KEY_PROPERTY
}
# a publish for some users: those given no vector lose theirs (canonical.unvectored_users)
CLEAR_USER_VECTORS = f"""
UNWIND $keys AS key
{_match("User", "n", "key")}
WHERE n[$property] IS NOT NULL
SET n[$property] = null
"""
DROP_VECTORS = {
    kind: f"""
MATCH (n:{label(kind)})
WHERE n[$property] IS NOT NULL AND NOT n.{prop(KEY_PROPERTY[kind])} IN $keep
SET n[$property] = null
RETURN count(n) AS dropped
"""
    for kind in KEY_PROPERTY
}
# A large replacement of vectors (Neo4jStore.replace_vectors) is staged under the property
# $staging, then swapped in; in auto-commit transactions, like a large publish's.
CLEAR_PROPERTY_IN_BATCHES = {
    kind: f"""
MATCH (n:{label(kind)}) WHERE n[$property] IS NOT NULL
CALL (n) {{ SET n[$property] = null }} IN TRANSACTIONS OF $batch ROWS
"""
    for kind in KEY_PROPERTY
}
DROP_UNSTAGED_VECTORS_IN_BATCHES = {
    kind: f"""
MATCH (n:{label(kind)}) WHERE n[$property] IS NOT NULL AND n[$staging] IS NULL
CALL (n) {{ SET n[$property] = null }} IN TRANSACTIONS OF $batch ROWS
RETURN count(n) AS dropped
"""
    for kind in KEY_PROPERTY
}
MOVE_STAGED_VECTORS_IN_BATCHES = {
    kind: f"""
MATCH (n:{label(kind)}) WHERE n[$staging] IS NOT NULL
CALL (n) {{ SET n[$property] = n[$staging], n[$staging] = null }} IN TRANSACTIONS OF $batch ROWS
"""
    for kind in KEY_PROPERTY
}


STAGING_PROPERTY_PREFIX = RESERVED_PREFIX  # no attribute or vector property has it


def staging_property(property: str) -> str:
    """The property a large replacement of ``property``'s vectors is staged under (a node
    property of this prefix is never read as an attribute)."""
    return STAGING_PROPERTY_PREFIX + property


# whether any node of the kind holds the property $property (kgrec.store.canonical
# .check_vector_property)
HOLDS_PROPERTY = {
    kind: f"""
RETURN EXISTS {{ MATCH (n:{label(kind)}) WHERE n[$property] IS NOT NULL }} AS held
"""
    for kind in KEY_PROPERTY
}
READ_VECTORS = {
    kind: f"""
MATCH (n:{label(kind)}) WHERE n[$property] IS NOT NULL
RETURN n.{prop(KEY_PROPERTY[kind])} AS key, n[$property] AS vector ORDER BY key
"""
    for kind in KEY_PROPERTY
}
VECTOR_INDEXES = """
SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, options, state
RETURN name, labelsOrTypes[0] AS kind, properties[0] AS property,
       options.indexConfig.`vector.dimensions` AS dimensions, state,
       coalesce(options.indexConfig.`vector.quantization.enabled`, false) AS quantized
"""


# The record of a vector property's vectors, one node per property: the text model that wrote
# them (`kgrec embed`) and the templates of their texts, or (since session 29) the run a publish
# wrote them of: $run (its name), $weights (a digest of its model) and $item_norm, or null.
# $version: its schema version (since session 31; see neo4j.VECTOR_RECORD_VERSION). A record
# is written whole (SET v = {...}): no field of the record it replaces stays.
VECTOR_MODEL_CONSTRAINT = (
    "CREATE CONSTRAINT kgrec_vectors_property IF NOT EXISTS "
    "FOR (v:KgrecVectors) REQUIRE v.property IS UNIQUE"
)
VECTOR_RECORD = """
MATCH (v:KgrecVectors {property: $property})
RETURN v.schema_version AS version, v.model AS name, v.identity AS identity,
       v.templates AS templates, v.interactions AS interactions, v.run AS run,
       v.weights AS weights, v.item_norm AS item_norm
"""
# $templates: the templates of the texts (kind -> digest, JSON), or null: not recorded;
# $interactions: whether each kind's texts read the interactions (kind -> bool, JSON), or null
RECORD_VECTOR_MODEL = """
MERGE (v:KgrecVectors {property: $property})
SET v = {property: $property, schema_version: $version, model: $name, identity: $identity,
         templates: $templates, interactions: $interactions}
"""
RECORD_VECTOR_RUN = """
MERGE (v:KgrecVectors {property: $property})
SET v = {property: $property, schema_version: $version, run: $run, weights: $weights,
         item_norm: $item_norm}
"""
# no record, of a model or a run: vectors replaced without one (in a staged replacement or
# publish, before the swap: vectors partly swapped are neither the old model's nor a run's)
FORGET_VECTOR_RECORD = "MATCH (v:KgrecVectors {property: $property}) DELETE v"


def vector_index_name(kind: str, property: str) -> str:
    """The name of the vector index on ``kind.property``."""
    return f"{kind.lower()}_{property}"


AWAIT_INDEX = "CALL db.awaitIndex($name, 600)"


def drop_vector_index(kind: str, property: str) -> str:
    """The statement dropping the vector index on ``kind.property`` (if it exists)."""
    return f"DROP INDEX {escape_name(vector_index_name(kind, property))} IF EXISTS"


def create_vector_index(kind: str, property: str) -> str:
    """The statement creating the cosine vector index on ``kind.property`` ($dimensions).
    Unquantized: Neo4j 5.26 quantizes a vector index by default, which moved its scores by
    about 1 % and reordered ml-100k's published top 10 where the stored vectors rank exactly."""
    name = escape_name(vector_index_name(kind, property))
    return (
        f"CREATE VECTOR INDEX {name} IF NOT EXISTS FOR (n:{label(kind)}) ON n.{prop(property)} "
        "OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, "
        "`vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false}}"
    )


# -- recommendations -----------------------------------------------------------------------

DELETE_RECOMMENDATIONS = "MATCH ()-[r:RECOMMENDED {run: $run}]->() DELETE r"
DELETE_USER_RECOMMENDATIONS = """
UNWIND $users AS id
MATCH (:User {user_id: id})-[r:RECOMMENDED {run: $run}]->()
DELETE r
"""

# how many edges a publish of run $run (of the users $users) deletes, counted up to $limit:
# more than a transaction may hold are deleted in batches (Neo4jStore.publish)
COUNT_RECOMMENDATIONS = """
MATCH ()-[r:RECOMMENDED {run: $run}]->()
WITH r LIMIT $limit
RETURN count(r) AS n
"""
COUNT_USER_RECOMMENDATIONS = """
UNWIND $users AS id
MATCH (:User {user_id: id})-[r:RECOMMENDED {run: $run}]->()
WITH r LIMIT $limit
RETURN count(r) AS n
"""


# A large publish (Neo4jStore.publish) is staged under a run name no reader asks for, then
# swapped in; these run in auto-commit transactions (CALL { } IN TRANSACTIONS needs one).
def staging_run(run: str) -> str:
    """The name a large publish of ``run`` stages its rows under."""
    return STAGING_PREFIX + run


DELETE_RUN_IN_BATCHES = """
MATCH ()-[r:RECOMMENDED {run: $run}]->()
CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS
"""
DELETE_USER_RUN_IN_BATCHES = """
UNWIND $users AS id
MATCH (:User {user_id: id})-[r:RECOMMENDED {run: $run}]->()
CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS
"""
RENAME_RUN_IN_BATCHES = """
MATCH ()-[r:RECOMMENDED {run: $staging}]->()
CALL (r) { SET r.run = $run } IN TRANSACTIONS OF $batch ROWS
"""

# fan-out rows (see above): a user's recommendations, its items by position in $ends (the
# run's old ones are deleted first, in the same transaction)
CREATE_RECOMMENDATIONS = _fan_out(
    "User",
    "Item",
    ("score", "rank", "model"),
    "CREATE (u)-[:RECOMMENDED {score: score, rank: rank, model: model, run: $run}]->(i)",
    node="u",
    other="i",
)
# (every run's recommendations without $run: the published ones, staged edges left out)
_PUBLISHED_OR_RUN = (
    f"CASE WHEN $run IS NULL THEN NOT r.run STARTS WITH '{STAGING_PREFIX}' ELSE r.run = $run END"
)
RECOMMENDATIONS = f"""
MATCH (u:User)-[r:RECOMMENDED]->(i:Item)
WHERE {_PUBLISHED_OR_RUN}
RETURN u.user_id AS user_id, i.uid AS item_uid, r.score AS score, r.rank AS rank,
       r.model AS model, r.run AS run
"""


# -- emptying a database ---------------------------------------------------------------------
# Relationships first, in batches: a DETACH DELETE of dense nodes (ml-1m's users) takes all their
# relationships into one transaction and can exceed the transaction memory limit.
DELETE_ALL = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 50000 ROWS",
    "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 50000 ROWS",
)


# -- one load at a time ----------------------------------------------------------------------
# A load holds the node (:KgrecLock {name: 'load'}) while it writes; the uniqueness constraint
# makes a second CREATE fail, in whichever transaction commits second.
LOCK_CONSTRAINT = (
    "CREATE CONSTRAINT kgrec_lock_name IF NOT EXISTS FOR (l:KgrecLock) REQUIRE l.name IS UNIQUE"
)
# $pid_namespace: the holder's pid namespace (since session 44; null off Linux), which tells a
# process of another container of the same host name apart from one of this process's machine
# graph: whether the holder changes the graph's tables, which a whole-graph read (snapshot,
# stats) gives (since session 44: a load's lock is marked so by MARK_GRAPH_WRITE, and so is a
# vector writer's that makes an index after its vectors; null in an older kgrec's lock, which
# may be a load's)
LOCK_LOAD = """
CREATE (:KgrecLock {name: 'load', token: $token, host: $host, pid: $pid,
                   pid_namespace: $pid_namespace, command: $command, started: datetime(),
                   graph: false})
"""
# A load (or such a vector writer), before it writes: its lock says it changes the graph, and
# (:KgrecGraphWrite), which stays, holds its token: a whole-graph read that finds that token
# changed (or a lock that says so) after its queries read while one wrote, even one that began
# and ended between them
MARK_GRAPH_WRITE = """
MERGE (w:KgrecGraphWrite)
SET w.token = $token
WITH w
OPTIONAL MATCH (l:KgrecLock {name: 'load', token: $token})
SET l.graph = true
"""
# what a whole-graph read compares before and after its queries: the lock's holder, whether
# it changes the graph, and the last graph writer's token
GRAPH_WRITE_STATE = """
OPTIONAL MATCH (l:KgrecLock {name: 'load'})
OPTIONAL MATCH (w:KgrecGraphWrite)
RETURN l.token AS token, l.host AS host, l.pid AS pid, l.pid_namespace AS pid_namespace,
       l.command AS command, toString(l.started) AS started, l.graph AS graph,
       w.token AS written
"""
LOCK_HOLDER = """
MATCH (l:KgrecLock {name: 'load'})
RETURN l.token AS token, l.host AS host, l.pid AS pid, l.pid_namespace AS pid_namespace,
       l.command AS command, toString(l.started) AS started
"""
# released by its holder only (its token); broken by anyone (`kgrec graph unlock`)
UNLOCK_LOAD = "MATCH (l:KgrecLock {name: 'load'}) WHERE $token IS NULL OR l.token = $token DELETE l"

# -- explanations ----------------------------------------------------------------------------

# whether the user has interactions and the item exists (the errors explain raises)
EXPLAIN_ENDS = """
OPTIONAL MATCH (u:User {user_id: $user_id})
OPTIONAL MATCH (i:Item {uid: $item_uid})
RETURN u IS NOT NULL AND EXISTS { (u)-[:INTERACTED]->() } AS user, i IS NOT NULL AS item
"""
# Why was this item recommended (kgrec.explain): one query for the three path kinds, ranked
# like `kgrec.explain.explain`. A degree counts a node's neighbours over INTERACTED and RELATED
# relationships only (not IN_DOMAIN or RECOMMENDED), each once (`kgrec.explain.GraphIndex.degree`:
# a relation stored both ways counts a film once, as one stored one way does). An entity has
# RELATED relationships only, a user INTERACTED only.
EXPLAIN = """
MATCH (u:User {user_id: $user_id}), (i:Item {uid: $item_uid})
CALL (u, i) {
    MATCH p = (u)-[:INTERACTED]->(h:Item)-[:RELATED]-(i)
    WHERE h <> i
    RETURN p, 'related' AS kind, log(1 + COUNT { (h)-[:INTERACTED]-() }
               + COUNT { MATCH (h)-[:RELATED]-(n) RETURN DISTINCT n }) AS cost
  UNION
    // each middle node's degree once, not once per path through it (a genre is on many)
    MATCH p = (u)-[:INTERACTED]->(h:Item)-[:RELATED]-(e:Entity)-[:RELATED]-(i)
    WHERE h <> i
    WITH e, collect(p) AS ps
    WITH ps, log(1 + COUNT { MATCH (e)-[:RELATED]-(n) RETURN DISTINCT n }) AS cost
    UNWIND ps AS p
    WITH nodes(p)[1] AS h, collect([p, cost]) AS found
    WITH found, log(1 + COUNT { (h)-[:INTERACTED]-() }
               + COUNT { MATCH (h)-[:RELATED]-(n) RETURN DISTINCT n }) AS cost
    UNWIND found AS f
    RETURN f[0] AS p, 'entity' AS kind, cost + f[1] AS cost
  UNION
    // of each of the user's items h, the $k cheapest co-raters v (cost, then key): only they
    // can be among the $k best (a heavy user and a popular item have 10^5 such paths)
    MATCH (u)-[:INTERACTED]->(h:Item)<-[:INTERACTED]-(v:User)-[:INTERACTED]->(i)
    WHERE h <> i AND v <> u
    WITH u, i, h, collect(DISTINCT v) AS vs
    WITH u, i, h, vs, log(1 + COUNT { (h)-[:INTERACTED]-() }
               + COUNT { MATCH (h)-[:RELATED]-(n) RETURN DISTINCT n }) AS cost
    UNWIND vs AS v
    WITH u, i, h, v, round(cost + log(1 + COUNT { (v)-[:INTERACTED]-() }), 9) AS cost
    ORDER BY cost, v.user_id
    WITH u, i, h, collect([v, cost])[..$k] AS best
    UNWIND best AS b
    WITH u, i, h, b[0] AS v, b[1] AS cost
    MATCH p = (u)-[:INTERACTED]->(h)<-[:INTERACTED]-(v)-[:INTERACTED]->(i)
    RETURN p, 'co-interaction' AS kind, cost
}
WITH kind, round(cost, 9) AS cost, nodes(p) AS ns, relationships(p) AS rs
WITH kind, cost, ns, rs, ns[1] AS h, ns[2] AS e, ns[3] AS t
WITH kind, cost,
     [n IN ns | CASE WHEN n:User THEN 'User:' + n.user_id
                     WHEN n:Item THEN 'Item:' + n.uid
                     ELSE 'Entity:' + n.entity_id END] AS keys,
     [r IN rs | CASE type(r) WHEN 'RELATED' THEN r.relation ELSE type(r) END] AS relations,
     // whether each relationship is stored from the path's node before it to the one after
     [i IN range(0, size(rs) - 1) | startNode(rs[i]) = ns[i]] AS forward,
     // an item goes by its title, else its name attribute where that is text (as
     // kgrec.explain.GraphIndex), else its uid
     [n IN ns | coalesce(n.title, CASE WHEN n.name IS :: STRING THEN n.name END, n.uid,
                         n.entity_id, n.user_id)] AS labels,
     // parallel relationships (a relation stored both ways) give one path, which names, of
     // an entity path, a relation both items share (the same one, the same way round first,
     // else the other way round, unless an edge stores the way back under another name, a
     // chain: kgrec.explain._shared_relation) where there is one, then the relationship
     // stored from the entity, else from the user's item (ns[1]), then the smallest relation
     // (kgrec.explain._preference)
     CASE WHEN kind <> 'entity' OR rs[1].relation <> rs[2].relation THEN 2
          WHEN (startNode(rs[1]) = ns[2]) = (startNode(rs[2]) = ns[2]) THEN 0
          WHEN EXISTS { (h)-[x:RELATED]-(e)
                        WHERE startNode(x) <> startNode(rs[1]) AND x.relation <> rs[1].relation }
            OR EXISTS { (e)-[y:RELATED]-(t)
                        WHERE startNode(y) <> startNode(rs[2]) AND y.relation <> rs[2].relation }
          THEN 2
          ELSE 1 END AS unshared,
     [r IN rs | CASE WHEN type(r) <> 'RELATED' THEN ''
                     ELSE CASE WHEN startNode(r):Entity THEN '0'
                               WHEN startNode(r) = ns[1] THEN '1' ELSE '2' END + r.relation
                END] AS preference
ORDER BY unshared, preference
WITH kind, cost, keys, collect(relations)[0] AS relations, collect(forward)[0] AS forward,
     collect(labels)[0] AS labels
RETURN kind, cost, keys, relations, forward, labels
ORDER BY cost, keys
LIMIT $k
"""


# -- reading published recommendations (notebooks, bench, applications) -----------------------

TOP_K = """
MATCH (u:User {user_id: $user_id})-[r:RECOMMENDED {run: $run}]->(i:Item)
RETURN i.uid AS item, i.title AS title, r.score AS score, r.rank AS rank
ORDER BY r.rank
LIMIT $k
"""

# Ad-hoc recommendations from published embeddings through the vector index $index (see
# kgrec.recommend.inner_product_vectors): the nearest items of the user's vector (the user's
# property $property, e.g. 'gnn_embedding': a parameter, never spliced), of the domain asked for
# and not already the user's. $candidates (> $k) leaves room for the items filtered out.
VECTOR_TOP_K = """
MATCH (u:User {user_id: $user_id})
WHERE u[$property] IS NOT NULL
CALL db.index.vector.queryNodes($index, $candidates, u[$property]) YIELD node AS i, score
WHERE i.domain = $domain AND NOT (u)-[:INTERACTED]->(i)
RETURN i.uid AS item, i.title AS title, score
ORDER BY score DESC
LIMIT $k
"""

# -- notebooks (kgrec.notebook.neighbourhood) --------------------------------------------------

# A user's interactions, their recommendations (of one run, or all) and the entities that
# join the two: what the user did, what kgrec suggests, and why.
NEIGHBOURHOOD = f"""
MATCH (u:User {{user_id: $user_id}})
CALL (u) {{
    MATCH p = (u)-[:INTERACTED]->(i:Item)
    RETURN p ORDER BY i.uid LIMIT $limit
  UNION
    MATCH p = (u)-[r:RECOMMENDED]->(:Item)
    WHERE {_PUBLISHED_OR_RUN}
    RETURN p ORDER BY r.rank LIMIT $limit
  UNION
    MATCH (u)-[r:RECOMMENDED]->(i:Item)
    WHERE {_PUBLISHED_OR_RUN}
    MATCH p = (u)-[:INTERACTED]->(:Item)-[:RELATED]-(:Entity)-[:RELATED]-(i)
    RETURN p LIMIT $limit
}}
RETURN p
"""
# The runs published into the database (their RECOMMENDED edges' names, staged ones left out):
# a scan of every RECOMMENDED edge, made only where a run that neighbourhood named drew none.
PUBLISHED_RUNS = f"""
MATCH ()-[r:RECOMMENDED]->() WHERE NOT r.run STARTS WITH '{STAGING_PREFIX}'
RETURN DISTINCT r.run AS run ORDER BY run
"""
