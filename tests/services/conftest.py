"""The services' Redis tests use the adapters' client and key prefix (cleared after each)."""

from tests.adapters.conftest import client, prefix

__all__ = ["client", "prefix"]
