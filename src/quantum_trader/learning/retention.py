"""Which stored artifacts the registry still needs, and which it can let go.

Every training stores its artifact, whatever the gate decides, so a home grows with every
retraining (a 90-day replay leaves about 300 MiB, docs/learning.md). A version can serve again
only while it is not RETIRED, or while it is RETIRED on its line's production stack (a
rollback restores it: :func:`~quantum_trader.learning.registry.production_stack`). A RETIRED
version off that stack never serves again: only rollback leaves RETIRED, and rollback only
walks the stack. Its artifact, and whatever else only it names (a policy's training state),
can go; its registry row, lineage and audit trail stay.

A digest is needed when any version that may serve names it: as its artifact or anywhere in
its lineage (a policy's ``state_digest``, the next training's warm start). Two versions with
the same content share one folder; it stays while either is needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.learning.registry import (
    ModelKey,
    ModelVersion,
    Stage,
    StageChange,
    left_serving,
    production_stack,
)

#: an artifact address (sha256, hex) wherever a lineage names one
DIGEST = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass(frozen=True, slots=True)
class Retention:
    """What a registry needs from the artifact store."""

    needed: frozenset[str]  # digests a version that may serve names
    #: digests only versions that can never serve again name, each with those versions
    unneeded: dict[str, tuple[ModelVersion, ...]]


def may_serve(version: ModelVersion, stack: Iterable[int]) -> bool:
    """Whether ``version`` can serve again: not RETIRED, or a rollback target."""
    return version.stage is not Stage.RETIRED or version.version in set(stack)


def named_digests(version: ModelVersion) -> set[str]:
    """Every artifact address ``version`` names: its own and any in its lineage."""
    return {version.artifact_hash, *DIGEST.findall(version.lineage.to_json())}


def retention(
    versions: Sequence[ModelVersion],
    history: Callable[[ModelKey], Sequence[StageChange]],
    *,
    settled_before: int | None = None,
) -> Retention:
    """Split the digests ``versions`` name into needed and unneeded (see the module doc).

    ``settled_before`` (engine time; a run's own prune): a version counts as unneeded only if
    it could no longer serve before then. A training in flight read its inputs (production's
    members, its warm start) when it was prepared, so a version that left serving only after
    the oldest training in flight began may still be read by it: it is kept until that one
    lands. ``None``: nothing is in flight (``models prune``, the run's end)."""
    keys = {v.key for v in versions}
    changes = {key: history(key) for key in keys}
    stacks = {key: production_stack(changes[key]) for key in keys}
    left = {} if settled_before is None else {k: left_serving(changes[k]) for k in keys}
    needed: set[str] = set()
    retired: dict[str, list[ModelVersion]] = {}
    for version in versions:
        if may_serve(version, stacks[version.key]) or (
            settled_before is not None
            and left[version.key].get(version.version, settled_before) >= settled_before
        ):
            needed |= named_digests(version)
        else:
            for digest in named_digests(version):
                retired.setdefault(digest, []).append(version)
    unneeded = {d: tuple(vs) for d, vs in retired.items() if d not in needed}
    return Retention(frozenset(needed), unneeded)


class PrunableStore(Protocol):
    """What pruning needs of the artifact store (``adapters/artifacts.LocalArtifactStore``)."""

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...

    def remove(self, digest: str, *, keep_if_touched_after: float | None = None) -> bool: ...


@dataclass(frozen=True, slots=True)
class Pruned:
    """What :func:`prune` removed (or would, in a dry run)."""

    artifacts: int  # folders
    freed: int  # bytes
    #: per model line (``ModelKey`` as text): [artifacts, bytes]
    lines: dict[str, list[int]] = field(default_factory=dict)
    kept: tuple[str, ...] = ()  # the needed digests that are stored


def prune(
    plan: Retention,
    store: PrunableStore,
    *,
    dry_run: bool = False,
    keep_if_touched_after: float | None = None,
) -> Pruned:
    """Remove the stored artifacts ``plan`` does not need (nothing with ``dry_run``).

    The caller holds the engine lock, so no other run trains, registers or stores here. A run
    prunes on its engine thread, where it also registers, with the plan's ``settled_before``
    at its oldest training in flight and ``keep_if_touched_after`` at the wall time that
    training was handed to its worker: a training in flight may store the very bytes of an
    unneeded version (a replay of the same window on the same home trains the same weights
    again), which it registers only when it lands; the store touches a folder a write finds
    already there, so such a folder stays (``LocalArtifactStore.remove``)."""
    lines: dict[str, list[int]] = {}
    freed = count = 0
    for digest, versions in sorted(plan.unneeded.items()):
        if not store.exists(digest):
            continue
        size = store.size(digest)
        if not dry_run and not store.remove(digest, keep_if_touched_after=keep_if_touched_after):
            continue  # just stored again by a training in flight
        freed, count = freed + size, count + 1
        for line in sorted({str(v.key) for v in versions}):
            tally = lines.setdefault(line, [0, 0])
            tally[0], tally[1] = tally[0] + 1, tally[1] + size
    kept = tuple(sorted(d for d in plan.needed if store.exists(d)))
    return Pruned(count, freed, lines, kept)
