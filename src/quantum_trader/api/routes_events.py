"""The live event stream: the engine's events as Server-Sent Events, resumable by id.

The engine writes the operator's topics to the event outbox (``adapters/sql/event_outbox.py``)
and this route tails it: every event with an id above the client's last one, in id order,
then whatever the engine writes next, polled here every ``events_poll_s`` (the server polls,
the client just reads). Each event is ``id: <outbox id>``, ``event: <topic>``,
``data: <json>``; a browser's EventSource sends the last id back as ``Last-Event-ID`` when it
reconnects, and the outbox's ids only grow in commit order, so nothing is missed or repeated.
sse-starlette writes the format, sends a keep-alive comment after ``events_ping_s`` of silence
and ends the stream when the client goes or the server shuts down.
"""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy.exc import SQLAlchemyError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from quantum_trader.adapters.sql.event_outbox import OutboxEvent, SqlEventOutbox
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.tokens import Token
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

#: events read per query; a reconnecting client far behind catches up page by page, unpaused
PAGE = 500
#: the largest id the outbox holds (a BIGINT on PostgreSQL)
MAX_EVENT_ID = 2**63 - 1

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "text/event-stream, never ending: `id: <event id>`, `event: <topic>`, "
            "`data: <json>` per event, keep-alive comments in between"
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def events_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["events"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]
    outbox = SqlEventOutbox(ctx.engine)

    @router.get("/events", response_class=EventSourceResponse, responses=STREAM_DOC)
    def events(
        user: User,
        last_event_id_header: Annotated[
            int | None,
            Header(
                alias="Last-Event-ID",
                ge=0,
                le=MAX_EVENT_ID,
                description="the id of the last event received: the stream goes on after it",
            ),
        ] = None,
        last_event_id: Annotated[
            int | None,
            Query(
                ge=0,
                le=MAX_EVENT_ID,
                description="as Last-Event-ID, for a first connection (the header wins); 0 "
                "replays every event the outbox keeps",
            ),
        ] = None,
    ) -> EventSourceResponse:
        """The engine's events (orders, fills, trades, risk, policy, models, regimes, health)
        from after the client's last one; without one, from now on."""
        last = last_event_id_header if last_event_id_header is not None else last_event_id
        if last is None:
            last = outbox.newest_id()
        stream = _events_after(outbox, last, ctx.config.events_poll_s)
        return EventSourceResponse(stream, ping=ctx.config.events_ping_s)

    return router


async def _events_after(
    outbox: SqlEventOutbox, last: int, poll_s: float
) -> AsyncIterator[ServerSentEvent]:
    """Every event after ``last``, then each new one as the outbox receives it. A failed read
    ends the stream (logged): the client reconnects with its Last-Event-ID."""
    while True:
        try:
            page: list[OutboxEvent] = await run_in_threadpool(outbox.after, last, PAGE)
        except SQLAlchemyError as exc:
            log.warning("api.events_read_failed", after=last, error=type(exc).__name__)
            return
        for event in page:
            yield ServerSentEvent(data=event.to_json(), id=str(event.id), event=event.type)
            last = event.id
        if len(page) < PAGE:
            await anyio.sleep(poll_s)
