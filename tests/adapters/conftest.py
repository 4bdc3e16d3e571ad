"""The Redis Streams tests' client, and a key prefix of their own that is cleared after each
(tests/services/conftest.py serves the same two to the services' tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A prefix of this test's own; every key starting with it is cleared after the test
    (``prefix-*`` streams included)."""
    p = f"qt-test-{uuid.uuid4().hex[:8]}"
    yield p
    for key in client.scan_iter(f"{p}*"):
        client.delete(key)
