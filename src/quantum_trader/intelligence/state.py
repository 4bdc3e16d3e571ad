"""Persistence of what the intelligence modules learned, as JSON documents by key.

Each module exposes ``to_state() -> dict`` / ``load_state(dict)`` with plain JSON values (no
pickle). A :class:`StateRepository` stores one document per key; SQL storage lives in
``adapters/sql/intelligence_state.py``. Floats survive the JSON round trip exactly (``repr`` precision), which is what
lets a restarted replay continue bit for bit.
"""

from __future__ import annotations

import json
from typing import Any, Protocol


class StateRepository(Protocol):
    def save(self, key: str, state_json: str, at: int) -> None: ...

    def load(self, key: str) -> str | None: ...


class Stateful(Protocol):
    def to_state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


def dump(state: dict[str, Any]) -> str:
    return json.dumps(state, allow_nan=False, separators=(",", ":"))


def save_state(repo: StateRepository, key: str, component: Stateful, at: int) -> None:
    repo.save(key, dump(component.to_state()), at)


def restore_state(repo: StateRepository, key: str, component: Stateful) -> bool:
    """Load ``key`` into ``component``; False when nothing was saved under it yet."""
    text = repo.load(key)
    if text is None:
        return False
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"intelligence state {key!r} is not valid JSON: {exc.msg}") from None
    component.load_state(state)
    return True
