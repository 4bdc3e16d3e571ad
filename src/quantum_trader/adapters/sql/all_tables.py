"""Imports every table module so the shared metadata knows the whole schema."""

from quantum_trader.adapters.sql import (
    tables,  # noqa: F401
    tables_agents,  # noqa: F401
    tables_bus,  # noqa: F401
    tables_events,  # noqa: F401
    tables_execution,  # noqa: F401
    tables_experiments,  # noqa: F401
    tables_intelligence,  # noqa: F401
    tables_registry,  # noqa: F401
    tables_risk,  # noqa: F401
    tables_services,  # noqa: F401
    tables_trials,  # noqa: F401
)
