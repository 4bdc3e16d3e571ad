"""Model registry: versions, stages, lineage, audit trail and the production pointer.

A line is identified by ``ModelKey(model, scope, horizon)``; ``model`` names a direction model
or any other learned artifact (an RL policy), whose :class:`~quantum_trader.learning.lineage.Lineage`
says which kind it is. Each registered artifact becomes a numbered version starting in CANDIDATE. Stages move forward
CANDIDATE → SHADOW → CANARY → PRODUCTION (skipping is allowed, moving back is not) and any stage
may go to RETIRED. Promoting a version to PRODUCTION retires the previous production version and
moves the production pointer in the same transaction; ``rollback`` retires the current
production version and restores the one that was in production before it. Every change is an
audited :class:`StageChange` (what, why, when, by whom or by which rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from quantum_trader.clock.clock import Clock
from quantum_trader.domain.errors import InvalidTransitionError, QuantumTraderError
from quantum_trader.learning.lineage import Lineage
from quantum_trader.models.base import ModelMetadata


class UnknownVersion(QuantumTraderError, KeyError):
    """A version the registry does not hold. A ``KeyError`` (what callers caught), and one of
    the system's errors, so the CLI says it in one line (``models promote KEY 99`` ended in a
    traceback)."""

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return str(self.args[0]) if self.args else ""


class Stage(StrEnum):
    CANDIDATE = "CANDIDATE"
    SHADOW = "SHADOW"
    CANARY = "CANARY"
    PRODUCTION = "PRODUCTION"
    RETIRED = "RETIRED"


class Action(StrEnum):
    """Why a stage changed, for the audit trail and for finding the rollback target."""

    REGISTER = "REGISTER"
    PROMOTE = "PROMOTE"
    REPLACED = "REPLACED"  # retired because another version entered PRODUCTION
    RETIRE = "RETIRE"
    ROLLBACK = "ROLLBACK"
    CANARY_STEP = "CANARY_STEP"  # a canary's share of its member's weight grew (CANARY → CANARY)


FORWARD: tuple[Stage, ...] = (Stage.CANDIDATE, Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION)


@dataclass(frozen=True, slots=True)
class ModelKey:
    model: str
    scope: str  # a symbol, or "global"
    horizon: int

    def __str__(self) -> str:
        return f"{self.model}/{self.scope}/h{self.horizon}"

    @classmethod
    def parse(cls, text: str) -> ModelKey:
        """``"xgb/BTCUSDT/h4"`` → ModelKey.

        >>> ModelKey.parse("xgb/BTCUSDT/h4")
        ModelKey(model='xgb', scope='BTCUSDT', horizon=4)
        """
        parts = text.split("/")
        if len(parts) != 3 or not parts[2].startswith("h") or not parts[2][1:].isdigit():
            raise ValueError(f"model key {text!r}: want MODEL/SCOPE/hHORIZON, e.g. xgb/BTCUSDT/h4")
        return cls(parts[0], parts[1], int(parts[2][1:]))


@dataclass(frozen=True, slots=True)
class ModelVersion:
    key: ModelKey
    version: int
    stage: Stage
    artifact_hash: str  # address in the artifact store
    lineage: Lineage  # kind, window, data hash, parameters, metrics (+ the kind's own detail)
    created_at: int

    @property
    def metadata(self) -> ModelMetadata:
        """A direction model's metadata (features, dead zone …); TypeError for other kinds."""
        return self.lineage.model_metadata()


@dataclass(frozen=True, slots=True)
class StageChange:
    """One audited event: a version registered (from_stage None) or moved between stages."""

    key: ModelKey
    version: int
    from_stage: Stage | None
    to_stage: Stage
    at: int
    actor: str  # a person (cli:<user>), a rule (rule:<name>) or a run (engine:<run id>)
    reason: str
    action: Action = Action.PROMOTE
    #: wall-clock time the row was stored (ms), filled by the storage adapter on write and
    #: read; None before that and in rows older than the column. ``at`` is engine time: in a
    #: replay the candle's, so the two tell a replayed change from a live one.
    recorded_at: int | None = field(default=None, compare=False)


class RegistryRepository(Protocol):
    """Storage of versions, audit trail and production pointers (SQL in adapters/sql)."""

    def next_version(self, key: ModelKey) -> int: ...

    def add_version(self, version: ModelVersion, change: StageChange) -> None: ...

    def apply(
        self, changes: Sequence[StageChange], pointer: tuple[ModelKey, int | None] | None
    ) -> None:
        """Write stage changes and (optionally) move the production pointer atomically."""
        ...

    def get(self, key: ModelKey, version: int) -> ModelVersion | None: ...

    def versions(self, key: ModelKey | None = None) -> list[ModelVersion]: ...

    def production_version(self, key: ModelKey) -> int | None: ...

    def history(self, key: ModelKey) -> list[StageChange]: ...

    def changes_after(self, cursor: int) -> list[tuple[int, StageChange]]:
        """Every line's stage changes written after ``cursor``, oldest first, each with its
        position (the next cursor); 0 reads them all. What another process reads to learn of
        a promotion or rollback."""
        ...


class ModelRegistry:
    def __init__(self, repository: RegistryRepository, clock: Clock) -> None:
        self._repo = repository
        self._clock = clock

    def register(
        self, lineage: Lineage | ModelMetadata, artifact_hash: str, *, actor: str, reason: str
    ) -> ModelVersion:
        """A new CANDIDATE version of the line the lineage describes (a direction model's
        metadata is taken as the lineage of kind ``"model"``)."""
        if isinstance(lineage, ModelMetadata):
            lineage = Lineage.of_model(lineage)
        if not artifact_hash:
            raise ValueError(f"register {lineage.name}/{lineage.scope}: empty artifact hash")
        key = ModelKey(lineage.name, lineage.scope, lineage.horizon)
        now = self._clock.now()
        number = self._repo.next_version(key)
        version = ModelVersion(key, number, Stage.CANDIDATE, artifact_hash, lineage, now)
        change = StageChange(
            key, number, None, Stage.CANDIDATE, now, actor, reason, Action.REGISTER
        )
        self._repo.add_version(version, change)
        return version

    def promote(
        self,
        key: ModelKey,
        version: int,
        *,
        actor: str,
        reason: str,
        to: Stage | None = None,
    ) -> ModelVersion:
        """Move ``version`` forward (to the next stage unless ``to`` says which)."""
        current = self._require(key, version)
        target = to or _next_stage(current)
        _check_forward(current, target)
        now = self._clock.now()
        action = Action.RETIRE if target is Stage.RETIRED else Action.PROMOTE
        changes = [StageChange(key, version, current.stage, target, now, actor, reason, action)]
        pointer: tuple[ModelKey, int | None] | None = None
        if target is Stage.PRODUCTION:
            previous = self._repo.production_version(key)
            if previous is not None and previous != version:
                changes.insert(
                    0,
                    StageChange(
                        key,
                        previous,
                        Stage.PRODUCTION,
                        Stage.RETIRED,
                        now,
                        actor,
                        f"replaced by v{version}: {reason}",
                        Action.REPLACED,
                    ),
                )
            pointer = (key, version)
        elif target is Stage.RETIRED and self._repo.production_version(key) == version:
            pointer = (key, None)
        self._repo.apply(changes, pointer)
        return self._require(key, version)

    def step_canary(self, key: ModelKey, version: int, *, actor: str, reason: str) -> int:
        """Record that the CANARY ``version`` takes its next share of the member's weight (the
        shares are the rollout's; the audit trail counts the steps, :meth:`canary_steps`).
        Returns the steps taken so far, this one included."""
        current = self._require(key, version)
        if current.stage is not Stage.CANARY:
            raise InvalidTransitionError(
                f"{key} v{version} is {current.stage}: only a CANARY takes canary steps"
            )
        change = StageChange(
            key,
            version,
            Stage.CANARY,
            Stage.CANARY,
            self._clock.now(),
            actor,
            reason,
            Action.CANARY_STEP,
        )
        self._repo.apply([change], None)
        return self.canary_steps(key, version)

    def canary_steps(self, key: ModelKey, version: int) -> int:
        """How many canary steps ``version`` took since it last entered CANARY."""
        steps = 0
        for change in self._repo.history(key):
            if change.version != version:
                continue
            if change.action is Action.CANARY_STEP:
                steps += 1
            elif change.to_stage is Stage.CANARY:
                steps = 0
        return steps

    def retire(self, key: ModelKey, version: int, *, actor: str, reason: str) -> ModelVersion:
        return self.promote(key, version, actor=actor, reason=reason, to=Stage.RETIRED)

    def rollback(self, key: ModelKey, *, actor: str, reason: str) -> ModelVersion:
        """Retire the production version and restore the one in production before it."""
        current = self._repo.production_version(key)
        if current is None:
            raise InvalidTransitionError(f"{key}: nothing in PRODUCTION to roll back")
        stack = production_stack(self._repo.history(key))
        if len(stack) < 2:
            raise InvalidTransitionError(
                f"{key}: v{current} has no earlier production version to roll back to "
                "(retire it instead)"
            )
        restore = stack[-2]
        previous = self._require(key, restore)
        now = self._clock.now()
        changes = [
            StageChange(
                key, current, Stage.PRODUCTION, Stage.RETIRED, now, actor, reason, Action.ROLLBACK
            ),
            StageChange(
                key, restore, previous.stage, Stage.PRODUCTION, now, actor, reason, Action.ROLLBACK
            ),
        ]
        self._repo.apply(changes, (key, restore))
        return self._require(key, restore)

    def production(self, key: ModelKey) -> ModelVersion | None:
        number = self._repo.production_version(key)
        return None if number is None else self._require(key, number)

    def get(self, key: ModelKey, version: int) -> ModelVersion:
        return self._require(key, version)

    def versions(self, key: ModelKey | None = None) -> list[ModelVersion]:
        return self._repo.versions(key)

    def history(self, key: ModelKey) -> list[StageChange]:
        return self._repo.history(key)

    def changes_after(self, cursor: int) -> list[tuple[int, StageChange]]:
        """Stage changes of every line after ``cursor`` (see :class:`RegistryRepository`)."""
        return self._repo.changes_after(cursor)

    def _require(self, key: ModelKey, version: int) -> ModelVersion:
        found = self._repo.get(key, version)
        if found is None:
            raise UnknownVersion(f"{key} has no version {version}")
        return found


def production_stack(history: Sequence[StageChange]) -> list[int]:
    """Versions that were in PRODUCTION and may be restored, oldest first; the last is current.

    Replaced versions stay on the stack (rollback brings them back); a rolled-back or explicitly
    retired version leaves it.
    """
    stack: list[int] = []
    for change in history:
        _follow(stack, change)
    return stack


def _follow(stack: list[int], change: StageChange) -> None:
    """Move ``stack`` (see :func:`production_stack`) past ``change``."""
    if change.to_stage is Stage.PRODUCTION:
        if change.action is Action.ROLLBACK:
            while stack and stack[-1] != change.version:
                stack.pop()
        else:
            if change.version in stack:
                stack.remove(change.version)
            stack.append(change.version)
    elif (
        change.from_stage is Stage.PRODUCTION
        and change.action is not Action.REPLACED
        and change.version in stack
    ):
        stack.remove(change.version)


def left_serving(history: Sequence[StageChange]) -> dict[int, int]:
    """When each version that can never serve again became so (engine time of the change):
    RETIRED and off the production stack. Such a version never comes back (only rollback
    leaves RETIRED, and rollback walks only the stack), so the first such moment is the one."""
    stack: list[int] = []
    stages: dict[int, Stage] = {}
    left: dict[int, int] = {}
    for change in history:
        before = set(stack)
        _follow(stack, change)
        stages[change.version] = change.to_stage
        # only the version moved and those a rollback took off the stack can leave here
        for version in before.difference(stack) | {change.version}:
            if stages.get(version) is Stage.RETIRED and version not in stack:
                left.setdefault(version, change.at)
    return left


def _next_stage(current: ModelVersion) -> Stage:
    if current.stage is Stage.RETIRED or current.stage is Stage.PRODUCTION:
        raise InvalidTransitionError(
            f"{current.key} v{current.version} is {current.stage}: there is no next stage "
            "(use rollback to restore a retired version)"
        )
    return FORWARD[FORWARD.index(current.stage) + 1]


def _check_forward(current: ModelVersion, target: Stage) -> None:
    if current.stage is Stage.RETIRED:
        raise InvalidTransitionError(
            f"{current.key} v{current.version} is RETIRED; only rollback may restore it"
        )
    if target is Stage.RETIRED:
        return
    if FORWARD.index(target) <= FORWARD.index(current.stage):
        raise InvalidTransitionError(
            f"{current.key} v{current.version}: {current.stage} → {target} moves backwards; "
            "stages only move forward (or to RETIRED)"
        )
