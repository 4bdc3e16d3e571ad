"""schemathesis over the app's own OpenAPI document, in process (ASGI), with the caller's
credentials: no server error and no answer outside its documented schema.

Each operation runs ``MAX_EXAMPLES`` generated cases (hypothesis' default is 100): enough to
reach every parameter's bounds and the error answers. One test runs the operations itself
(schemathesis' pytest plugin, ``from_fixture``, does not run under this pytest); each
operation is its own hypothesis run.
"""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def operations(app: object, headers: dict[str, str]) -> list[APIOperation]:
    """Every operation of the app's document."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=headers)
    return [result.ok() for result in schema.get_all_operations()]


def check_operations(
    chosen: list[APIOperation],
    headers: dict[str, str],
    prepare: Callable[[Case], None] | None = None,
) -> None:
    """Run the generated cases of each of ``chosen``; ``prepare`` may point a case at seeded
    content (a known id, symbol or line) before it is called."""
    for operation in chosen:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def calls_keep_the_schema(case: Case) -> None:
            if prepare is not None:
                prepare(case)
            case.call_and_validate(headers=headers, checks=CHECKS)

        calls_keep_the_schema()
