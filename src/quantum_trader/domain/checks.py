"""Small guards used by domain constructors; each raises DomainValidationError."""

from __future__ import annotations

import math

from quantum_trader.domain.errors import DomainValidationError


def finite(type_name: str, field: str, value: float) -> None:
    if not math.isfinite(value):
        raise DomainValidationError(type_name, field, value, "must be a finite number")


def positive(type_name: str, field: str, value: float) -> None:
    finite(type_name, field, value)
    if value <= 0:
        raise DomainValidationError(type_name, field, value, "must be > 0")


def non_negative(type_name: str, field: str, value: float) -> None:
    finite(type_name, field, value)
    if value < 0:
        raise DomainValidationError(type_name, field, value, "must be >= 0")


def probability(type_name: str, field: str, value: float) -> None:
    finite(type_name, field, value)
    if not 0.0 <= value <= 1.0:
        raise DomainValidationError(type_name, field, value, "must be within [0, 1]")


def non_empty(type_name: str, field: str, value: str) -> None:
    if not value:
        raise DomainValidationError(type_name, field, value, "must not be empty")
