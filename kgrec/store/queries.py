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

from graph_schema.names import escape_name, label, prop

# node kind -> its key property in Neo4j
KEY_PROPERTY = {"User": "user_id", "Item": "uid", "Entity": "entity_id", "Domain": "name"}


def _match(kind: str, var: str, key: str) -> str:
    return f"MATCH ({var}:{label(kind)} {{{prop(KEY_PROPERTY[kind])}: {key}}})"


# -- writing the graph ---------------------------------------------------------------------
# Node rows are {key, props}: props holds only the values that are not missing, so `SET +=`
# adds and replaces but never erases (the merge rule of kgrec.store.canonical).

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
# Each kind has two statements. CREATE_* serves start nodes that have no relationship of the kind
# yet (nothing to match against, the fast path of a first load); its guard, evaluated in the
# transaction, turns re-running a committed chunk (a retry, or the same write again) into a no-op
# instead of duplicates. MERGE_* serves the others. (The fast path assumes that no other writer
# adds relationships of the same start node at the same time: one load per database at a time.)


def _fan_out(
    start: str,
    end: str,
    values: tuple[str, ...],
    body: str,
    *,
    node: str,
    other: str,
    guard: str = "",
) -> str:
    """A fan-out statement: the chunk's end nodes collected in $ends order, then per start node
    (``node``, kept by ``guard`` when one is given) one row per relationship, with the end node
    as ``other`` and each column of ``values`` under its own name, on which ``body`` acts."""
    columns = "".join(f", row.{name}[k] AS {name}" for name in values)
    return f"""
UNWIND range(0, size($ends) - 1) AS position
OPTIONAL {_match(end, "e", "$ends[position]")}
WITH position, e ORDER BY position
WITH collect([e]) AS ends
UNWIND $rows AS row
{_match(start, node, "row.start")}
{guard}
CALL ({node}, row, ends) {{
  UNWIND range(0, size(row.ends) - 1) AS k
  WITH {node}, ends[row.ends[k]][0] AS {other}{columns}
  {body}
}}
"""


_INTERACTION = {"values": ("rating", "timestamp"), "node": "u", "other": "i"}
CREATE_INTERACTIONS = _fan_out(
    "User",
    "Item",
    body="CREATE (u)-[:INTERACTED {rating: rating, timestamp: timestamp}]->(i)",
    guard="WHERE NOT EXISTS { (u)-[:INTERACTED]->() }",
    **_INTERACTION,
)
MERGE_INTERACTIONS = _fan_out(
    "User",
    "Item",
    body="""MERGE (u)-[r:INTERACTED]->(i)
  SET r.rating = coalesce(rating, r.rating), r.timestamp = coalesce(timestamp, r.timestamp)""",
    **_INTERACTION,
)
# the users among $keys that have no INTERACTED relationship yet
FRESH_INTERACTIONS = """
UNWIND $keys AS key
MATCH (u:User {user_id: key})
WHERE NOT EXISTS { (u)-[:INTERACTED]->() }
RETURN key
"""

# (head_kind, tail_kind) -> statement. The guard is per tail kind: the same head may also have
# relations to the other kind, written by the other statement.
CREATE_KNOWLEDGE = {
    (head, tail): _fan_out(
        head,
        tail,
        ("relation",),
        "CREATE (h)-[:RELATED {relation: relation}]->(t)",
        node="h",
        other="t",
        guard=f"WHERE NOT EXISTS {{ (h)-[:RELATED]->(:{label(tail)}) }}",
    )
    for head in ("Item", "Entity")
    for tail in ("Item", "Entity")
}
# Not MERGE: with graph_schema's index on RELATED(relation), the planner (costing an empty graph)
# plans MERGE's match as an index seek on the relation, which scans every relationship of that
# relation written so far in the transaction, for each row (quadratic). Expanding between the two
# bound nodes is what MERGE should do; the guard makes the statement idempotent all the same.
MERGE_KNOWLEDGE = {
    (head, tail): _fan_out(
        head,
        tail,
        ("relation",),
        """WITH h, t, relation WHERE NOT relation IN [(h)-[r:RELATED]->(t) | r.relation]
  CREATE (h)-[:RELATED {relation: relation}]->(t)""",
        node="h",
        other="t",
    )
    for head in ("Item", "Entity")
    for tail in ("Item", "Entity")
}
FRESH_KNOWLEDGE = {
    (head, tail): f"""
UNWIND $keys AS key
{_match(head, "h", "key")}
WHERE NOT EXISTS {{ (h)-[:RELATED]->(:{label(tail)}) }}
RETURN key
"""
    for head in ("Item", "Entity")
    for tail in ("Item", "Entity")
}

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
READ_VECTORS = {
    kind: f"""
MATCH (n:{label(kind)}) WHERE n[$property] IS NOT NULL
RETURN n.{prop(KEY_PROPERTY[kind])} AS key, n[$property] AS vector ORDER BY key
"""
    for kind in KEY_PROPERTY
}
VECTOR_INDEXES = """
SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, options
RETURN name, labelsOrTypes[0] AS kind, properties[0] AS property,
       options.indexConfig.`vector.dimensions` AS dimensions
"""


def vector_index_name(kind: str, property: str) -> str:
    """The name of the vector index on ``kind.property``."""
    return f"{kind.lower()}_{property}"


AWAIT_INDEX = "CALL db.awaitIndex($name, 600)"


def create_vector_index(kind: str, property: str) -> str:
    """The statement creating the cosine vector index on ``kind.property`` ($dimensions)."""
    name = escape_name(vector_index_name(kind, property))
    return (
        f"CREATE VECTOR INDEX {name} IF NOT EXISTS FOR (n:{label(kind)}) ON n.{prop(property)} "
        "OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, "
        "`vector.similarity_function`: 'cosine'}}"
    )


# -- recommendations -----------------------------------------------------------------------

DELETE_RECOMMENDATIONS = "MATCH ()-[r:RECOMMENDED {run: $run}]->() DELETE r"

# fan-out rows (see above): a user's recommendations, its items by position in $ends
CREATE_RECOMMENDATIONS = _fan_out(
    "User",
    "Item",
    ("score", "rank", "model"),
    "CREATE (u)-[:RECOMMENDED {score: score, rank: rank, model: model, run: $run}]->(i)",
    node="u",
    other="i",
)
RECOMMENDATIONS = """
MATCH (u:User)-[r:RECOMMENDED]->(i:Item)
WHERE $run IS NULL OR r.run = $run
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
