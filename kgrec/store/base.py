"""The store interface: one graph, two implementations (LocalStore, Neo4jStore)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import pandas as pd

from graph_schema.tables import GraphTables


class GraphStore(ABC):
    """Where the shared graph lives.

    ``write`` merges canonical tables into the store: loading the same tables twice leaves the
    same graph, and a failed write leaves the store as it was or resumable by writing the same
    tables again. ``snapshot`` returns the whole graph as canonical tables.
    """

    uri: str

    @abstractmethod
    def write(self, graph: GraphTables, *, progress: bool = True) -> dict[str, int]:
        """Merge ``graph`` into the store; returns rows written per table."""

    @abstractmethod
    def snapshot(self) -> GraphTables:
        """The whole graph as canonical tables."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Counts per node kind, relationship kind and domain."""

    @abstractmethod
    def write_vectors(
        self, kind: str, keys: list[str], vectors: np.ndarray, *, property: str
    ) -> None:
        """Store one vector per node of ``kind`` (by key) as ``property``; Neo4j also indexes it."""

    @abstractmethod
    def read_vectors(self, kind: str, *, property: str) -> tuple[list[str], np.ndarray]:
        """Keys and vectors of every node of ``kind`` that has ``property``."""

    @abstractmethod
    def publish(self, recommendations: pd.DataFrame, *, run: str) -> int:
        """Replace run ``run``'s recommendations by these (RECOMMENDATIONS table)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
