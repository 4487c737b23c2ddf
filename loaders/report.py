"""What a load did: rows per table, duplicates merged, rows a domain rule left out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graph_schema.tables import GraphTables


@dataclass
class LoadReport:
    """Counts a loader fills in while it builds a load's tables (pass one in to read them)."""

    files: list[str] = field(default_factory=list)
    interaction_files: list[str] = field(default_factory=list)  # those of the interactions
    rows: dict[str, int] = field(default_factory=dict)  # per canonical table
    duplicates: Counter[str] = field(default_factory=Counter)  # rows merged into another, per table
    left_out: Counter[str] = field(
        default_factory=Counter
    )  # rows a domain rule left out, per table
    users_joined: int = 0  # user ids a user-link file mapped onto another id
    warnings: Counter[str] = field(
        default_factory=Counter
    )  # values a documented rule changed (what was done -> how many), e.g. ms timestamps
    items_per_domain: dict[str, int] = field(default_factory=dict)
    # item uid -> file, line and field of the row that tied it to its entity (a link, an item file's
    # entity_id): where a store's refusal of the tie points (kgrec load)
    tied_at: dict[str, dict[str, object]] = field(default_factory=dict)
    # node kind (User, Item) -> attribute -> keys of the nodes whose row of the users or items
    # file leaves a column of the file empty: what kgrec load --clear-empty clears
    empty: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def warn(self, what: str, count: int = 1) -> None:
        """Count ``count`` values that a documented rule changed (``what`` says which, how)."""
        if count:
            self.warnings[what] += int(count)

    def count(self, tables: GraphTables) -> None:
        self.rows = {name: len(table) for name, table in tables.tables().items()}
        self.items_per_domain = {
            str(k): int(v) for k, v in tables.items["domain"].value_counts().sort_index().items()
        }

    def summary(self) -> str:
        """A few lines for people: what was read and what the graph gets."""
        lines = [f"read {len(self.files)} file(s): {', '.join(self.files)}"]
        lines.append("rows: " + ", ".join(f"{k} {v:,}" for k, v in self.rows.items()))
        if self.items_per_domain:
            per = ", ".join(f"{k} {v:,}" for k, v in self.items_per_domain.items())
            lines.append(f"items per domain: {per}")
        if self.duplicates:
            per = ", ".join(f"{k} {v:,}" for k, v in sorted(self.duplicates.items()))
            lines.append(
                f"duplicates merged (same key; per field the last non-empty value wins): {per}"
            )
        if self.left_out:
            per = ", ".join(f"{k} {v:,}" for k, v in sorted(self.left_out.items()))
            lines.append(f"left out by the domain rule: {per}")
        if self.users_joined:
            lines.append(f"user ids joined by the user-link file: {self.users_joined:,}")
        for what, count in sorted(self.warnings.items()):
            lines.append(f"warning: {what}: {count:,}")
        return "\n".join(lines)
