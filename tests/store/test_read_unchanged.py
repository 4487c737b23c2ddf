"""read_unchanged: a read of several queries as one, waiting for a writer that ends soon."""

from __future__ import annotations

import time

import pytest

from kgrec.errors import StoreError
from kgrec.store import base
from kgrec.store.base import READ_ATTEMPTS, read_unchanged


def writer_for(seconds: float):
    """The state of a store that a writer changes for ``seconds`` from now."""
    end = time.monotonic() + seconds
    return lambda: "writing" if time.monotonic() < end else "settled"


def refusal(state: str) -> StoreError:
    return StoreError(f"refused ({state})")


def test_a_read_waits_for_a_writer_that_ends_within_its_waits():
    """Before, the tries were made back to back: a read begun during a load that ended a
    moment later (a small load) was refused, its three tries spent in a millisecond. Now the
    tries are READ_WAITS apart, so a writer that ends within them is waited for."""
    result, state = read_unchanged(
        lambda: "read", writer_for(0.3), refusal, settled=lambda s: s == "settled"
    )
    assert (result, state) == ("read", "settled")


def test_a_read_is_refused_after_its_tries_when_the_writer_goes_on(monkeypatch):
    waits = []
    monkeypatch.setattr(base.time, "sleep", waits.append)
    reads = []
    with pytest.raises(StoreError, match=r"refused \(writing\)"):
        read_unchanged(
            lambda: reads.append(1), lambda: "writing", refusal, settled=lambda s: s == "settled"
        )
    assert reads == []  # never read while the writer writes
    assert waits == list(base.READ_WAITS[: READ_ATTEMPTS - 1])


def test_a_read_a_writer_changed_midway_is_read_again_after_a_wait(monkeypatch):
    waits = []
    monkeypatch.setattr(base.time, "sleep", waits.append)
    states = iter([1, 2, 2, 2])  # a write ended during the first read
    reads = []
    result, state = read_unchanged(
        lambda: reads.append(1) or len(reads), lambda: next(states), refusal
    )
    assert (result, state, waits) == (2, 2, [base.READ_WAITS[0]])
