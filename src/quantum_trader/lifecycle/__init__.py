"""Component lifecycle: what a long-lived part of a run (a module with subscriptions, jobs or
state to save; a worker; a live phase) does when the run starts and when it stops."""

from quantum_trader.lifecycle.component import (
    Component,
    ComponentContext,
    ComponentState,
    Hooks,
    Lifecycle,
    LifecycleError,
)

__all__ = [
    "Component",
    "ComponentContext",
    "ComponentState",
    "Hooks",
    "Lifecycle",
    "LifecycleError",
]
