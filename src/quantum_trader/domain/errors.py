"""The project's exception tree, drawn in one place.

Every error says what went wrong and where: the field, the value, the symbol, the time.
"""

from __future__ import annotations


class QuantumTraderError(Exception):
    """Base of every error raised on purpose by Quantum Trader."""


class DomainValidationError(QuantumTraderError, ValueError):
    """A domain object was built with a value that breaks its rules."""

    def __init__(self, type_name: str, field: str, value: object, rule: str) -> None:
        self.type_name = type_name
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{type_name}.{field}={value!r}: {rule}")


class InvalidTransitionError(QuantumTraderError):
    """A state machine was asked for a transition it does not allow."""


class ConfigError(QuantumTraderError):
    """Settings are invalid or contradict each other."""


class DataError(QuantumTraderError):
    """Market data failed validation, or cannot be found."""


class LookAheadError(QuantumTraderError):
    """Something asked for data later than the engine's clock."""


class ArtifactIntegrityError(QuantumTraderError):
    """A stored artifact does not match its recorded content hash."""


class NothingToServeError(QuantumTraderError):
    """No symbol's ensemble has enough usable members to reach consensus: a run could place no
    order at all (every member disabled, e.g. by a tampered artifact)."""


class OrderRejectedError(QuantumTraderError):
    """An order was refused before reaching a venue."""
