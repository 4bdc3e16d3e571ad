"""Module status registry: state, reason, last activity and evidence counters per module."""

from quantum_trader.status.registry import (
    ModuleHandle,
    ModuleState,
    ModuleStatus,
    StatusRegistry,
    StatusRepository,
)

__all__ = ["ModuleHandle", "ModuleState", "ModuleStatus", "StatusRegistry", "StatusRepository"]
