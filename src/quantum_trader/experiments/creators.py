"""Who created an experiment: the operator's CLI, a run of the main job, or a learning daemon
that put a candidate in the shadow (``experiments/candidates.py``).

The creator is an audit entry (event :data:`CREATOR_EVENT`) written just after the experiment's
row, not a field of its spec: the spec is what the experiment declares and tests, the creator
is where it came from. A process killed between the two writes leaves an experiment with no
creator entry; the daemon writes it again when it meets its candidate again
(:func:`record_creator` is idempotent), and :func:`creator_of` reads a missing one as
:data:`NOT_RECORDED`.
"""

from __future__ import annotations

from quantum_trader.experiments.records import AuditEntry, ExperimentStore, StoredExperiment

CREATOR_EVENT = "creator"
#: what the CLI records as the creator of ``experiments create``
OPERATOR = "operator (quantum-trader experiments create)"
#: the prefix of every creator a learning daemon records
LEARNING_DAEMON = "learning daemon"
NOT_RECORDED = "not recorded"


def creator_of(stored: StoredExperiment) -> str:
    """The creator's text (:data:`NOT_RECORDED` when none was written)."""
    return next((e.detail for e in stored.audit if e.event == CREATOR_EVENT), NOT_RECORDED)


def record_creator(store: ExperimentStore, name: str, at: int, creator: str) -> bool:
    """Audit ``creator`` as ``name``'s creator unless one is recorded; True when written."""
    stored = store.load(name)
    if stored is None:
        raise KeyError(f"no experiment {name!r} in the store")
    if any(e.event == CREATOR_EVENT for e in stored.audit):
        return False
    store.audit(name, AuditEntry(at, CREATOR_EVENT, creator))
    return True


def by_learning_daemon(stored: StoredExperiment) -> bool:
    return creator_of(stored).startswith(LEARNING_DAEMON)
