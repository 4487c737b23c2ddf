"""kgrec.notebook's arguments, checked before any query (a stand-in driver: no server;
tests/test_notebook_helpers.py runs the helpers against the real Neo4j)."""

from __future__ import annotations

import pytest

from kgrec.errors import InputError
from kgrec.notebook import neighbourhood


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "25"])
def test_neighbourhood_refuses_a_limit_that_is_not_a_positive_integer(recording_driver, limit):
    # before, the query ran: Neo4j refused LIMIT -1 or 2.5 with its own error, and LIMIT 0
    # drew nothing, reported as the user having no interactions or recommendations
    driver = recording_driver()
    with pytest.raises(InputError, match="limit must be a positive integer"):
        neighbourhood(driver, "alice", limit=limit)
    assert driver.queries == []
