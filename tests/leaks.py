"""The leak check shared by the tests that start workers or create shared memories.

``from leaks import no_leaks`` in a test module makes every test there assert, afterwards,
that it left no shared-memory segment of this process and no worker process behind.
"""
from __future__ import annotations

import os

import pytest

from sharedwasm.runtime.shared_memory import list_segments


def own_segments() -> list[str]:
    """Segments this test process created (other runs on the machine may have theirs)."""
    return [n for n in list_segments() if n.startswith(f"sharedwasm_{os.getpid()}_")]


@pytest.fixture(autouse=True)
def no_leaks():
    before = set(own_segments())      # memories of earlier tests may await collection
    yield
    import multiprocess
    for child in multiprocess.active_children():
        child.join(5)
    assert set(own_segments()) <= before, "a shared memory segment leaked"
    assert not multiprocess.active_children(), "a worker process was left running"
