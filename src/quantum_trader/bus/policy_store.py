"""The versioned policy store: key → typed value, persisted, with live reload.

Each key has a schema: a type pydantic validates (a pydantic model, or a frozen dataclass such as
the domain's ``TradingPolicy``). ``set`` validates, writes a new version and publishes
``policy.updated``; in-process subscribers see it at once. ``refresh`` picks up versions written
by another process (the engine schedules it), so a running engine sees a change without restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import publish_event, subscribe_records
from quantum_trader.clock.clock import Clock
from quantum_trader.domain.errors import ConfigError, DomainValidationError
from quantum_trader.domain.events import PolicyUpdate
from quantum_trader.domain.policy import TRADING_POLICY_KEY, TradingPolicy

M = TypeVar("M")


class RLTrainingPolicy(BaseModel):
    """``rl.v3.training``: how the PPO training daemon runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    interval_minutes: int = 30
    episodes_per_run: int = 2


#: Known keys and their schemas; later modules register more with :meth:`PolicyStore.define`.
DEFAULT_SCHEMAS: dict[str, type[Any]] = {
    "rl.v3.training": RLTrainingPolicy,
    TRADING_POLICY_KEY: TradingPolicy,
}


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    key: str
    version: int
    value_json: str
    changed_at: int
    changed_by: str
    reason: str


class PolicyRepository(Protocol):
    def latest(self, key: str) -> PolicyVersion | None: ...

    def append(self, record: PolicyVersion) -> None: ...

    def history(self, key: str) -> list[PolicyVersion]: ...

    def latest_versions(self) -> dict[str, int]: ...


class PolicyStore:
    def __init__(self, repository: PolicyRepository, bus: EventBus, clock: Clock) -> None:
        self._repo = repository
        self._bus = bus
        self._clock = clock
        self._schemas: dict[str, type[Any]] = dict(DEFAULT_SCHEMAS)
        self._adapters: dict[str, TypeAdapter[Any]] = {}
        self._seen: dict[str, int] = repository.latest_versions()
        self.updates_applied = 0

    def define(self, key: str, schema: type[Any]) -> None:
        existing = self._schemas.get(key)
        if existing is not None and existing is not schema:
            raise ValueError(f"policy key {key!r} already has schema {existing.__name__}")
        self._schemas[key] = schema

    def _schema(self, key: str) -> type[Any]:
        try:
            return self._schemas[key]
        except KeyError:
            raise ConfigError(
                f"unknown policy key {key!r}; known: {sorted(self._schemas)}"
            ) from None

    def _adapter(self, key: str) -> TypeAdapter[Any]:
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = self._adapters[key] = TypeAdapter(self._schema(key))
        return adapter

    def get(self, key: str, schema: type[M]) -> M:
        """The newest value of ``key`` (the schema's defaults if never set)."""
        if self._schema(key) is not schema:
            raise TypeError(
                f"policy {key!r} has schema {self._schema(key).__name__}, not {schema.__name__}"
            )
        record = self._repo.latest(key)
        if record is None:
            return schema()
        value: M = self._adapter(key).validate_json(record.value_json)
        return value

    def version(self, key: str) -> int:
        record = self._repo.latest(key)
        return 0 if record is None else record.version

    def set(self, key: str, value: object, *, by: str, reason: str = "") -> int:
        """Validate and store a new version; publish ``policy.updated``. Returns the version.

        ``value`` is an instance of the key's schema, or a dict (or pydantic model) of its fields.
        """
        schema, adapter = self._schema(key), self._adapter(key)
        try:
            model = (
                value
                if isinstance(value, schema)
                else adapter.validate_python(
                    value.model_dump() if isinstance(value, BaseModel) else value
                )
            )
        except (ValidationError, DomainValidationError) as exc:
            raise ConfigError(f"policy {key!r}: invalid value: {exc}") from None
        version = self.version(key) + 1
        record = PolicyVersion(
            key=key,
            version=version,
            value_json=adapter.dump_json(model).decode(),
            changed_at=self._clock.now(),
            changed_by=by,
            reason=reason,
        )
        self._repo.append(record)
        self._seen[key] = version
        self._publish(record)
        return version

    def history(self, key: str) -> list[PolicyVersion]:
        return self._repo.history(key)

    def refresh(self) -> int:
        """Publish ``policy.updated`` for versions another process wrote; returns how many."""
        changed = 0
        for key, version in sorted(self._repo.latest_versions().items()):
            if version > self._seen.get(key, 0):
                record = self._repo.latest(key)
                if record is not None:
                    self._seen[key] = record.version
                    self._publish(record)
                    changed += 1
        return changed

    def watch(self, key: str, schema: type[M], listener: Callable[[M], None]) -> None:
        """Call ``listener`` with the new value whenever ``key`` changes."""

        if self._schema(key) is not schema:
            raise TypeError(
                f"policy {key!r} has schema {self._schema(key).__name__}, not {schema.__name__}"
            )
        adapter = self._adapter(key)

        def on_update(update: PolicyUpdate) -> None:
            if update.key == key:
                listener(adapter.validate_python(update.value))

        subscribe_records(self._bus, topics.POLICY_UPDATED, on_update)

    def _publish(self, record: PolicyVersion) -> None:
        self.updates_applied += 1
        update = PolicyUpdate(
            key=record.key,
            version=record.version,
            value=json.loads(record.value_json),
            changed_by=record.changed_by,
            reason=record.reason,
        )
        publish_event(self._bus, topics.POLICY_UPDATED, update, source="policy_store")
