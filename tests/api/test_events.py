"""The live event stream (``GET /api/v1/events``) over a real uvicorn server and a real bus:
a client that drops the connection and comes back with ``Last-Event-ID`` while the engine
publishes gets every event exactly once, in order (issue 20, item 3); the stream starts at
now without an id, keeps idle connections alive and refuses bad ids and missing credentials."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from quantum_trader.adapters.sql.event_outbox import EventOutboxWriter
from quantum_trader.api.app import create_app
from quantum_trader.api.config import ApiConfig
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock, WallClock
from tests.api.conftest import PASSWORD, SECRET, START_MS, USERNAME

EVENTS = "/api/v1/events"
WAIT_S = 20.0  # the longest any step may take before the test gives up


@dataclass
class Sse:
    """One Server-Sent Event as a client parses it (comments: the keep-alive lines)."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def read_sse(response: httpx.Response) -> Iterator[Sse]:
    """The events of a text/event-stream, as the SSE specification splits them (a blank line
    ends an event; ``:`` starts a comment); a comment-only block is yielded too."""
    current = Sse()
    for line in response.iter_lines():
        if line == "":
            if current.data or current.comments or current.id is not None:
                yield current
            current = Sse()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data.append(value)


@pytest.fixture
def server(db_engine: Engine) -> Iterator[str]:
    """The API on a real uvicorn server on a free local port (a thread of this process); its
    stream polls the outbox every 20 ms and pings after 0.3 s of silence."""
    config = ApiConfig(
        username=USERNAME, password=PASSWORD, secret=SECRET, events_poll_s=0.02, events_ping_s=0.3
    )
    app = create_app(config, db_engine, WallClock())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(WAIT_S)
        sock.close()


def bearer(base: str) -> dict[str, str]:
    body = {"username": USERNAME, "password": PASSWORD}
    token = httpx.post(f"{base}/api/v1/auth/login", json=body).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def stream(client: httpx.Client, base: str, headers: dict[str, str], query: str = "") -> Any:
    timeout = httpx.Timeout(WAIT_S, connect=5.0)
    return client.stream("GET", f"{base}{EVENTS}{query}", headers=headers, timeout=timeout)


def received(event: Sse) -> tuple[int, str, dict[str, Any]]:
    """(id, topic, payload) of a streamed event, checked against its own data."""
    assert event.id is not None and len(event.data) == 1
    data = json.loads(event.data[0])
    assert (str(data["id"]), data["type"]) == (event.id, event.event)
    return int(event.id), str(event.event), data["payload"]


class Producer(threading.Thread):
    """The engine's side: publishes on a real in-process bus whose outbox recorder writes in
    batches of 7 (flushed every 5 events, as the runtime's job would), in three parts: the
    second while the client is away, the third after it is back."""

    PARTS = (60, 40, 40)

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.clock = SimulatedClock(START_MS)
        self.bus = InProcessBus(self.clock, run_id="replay-1")
        self.outbox = EventOutboxWriter(engine, "replay-1", batch_size=7)
        self.bus.add_recorder(self.outbox.record)
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.client_away = threading.Event()
        self.second_part_done = threading.Event()
        self.client_back = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._publish(self.PARTS[0])
            assert self.client_away.wait(WAIT_S)
            self._publish(self.PARTS[1])
            self.second_part_done.set()
            assert self.client_back.wait(WAIT_S)
            self._publish(self.PARTS[2])
        except BaseException as exc:
            self.error = exc
            raise

    def _publish(self, n: int) -> None:
        for _ in range(n):
            i = len(self.published)
            self.clock.advance_to(START_MS + i * 60_000)
            self.bus.publish("market.candle.closed", {"i": i}, source="market_data")  # not kept
            topic = ("execution.order.filled", "risk.decision", "model.drift.detected")[i % 3]
            payload = {"i": i, "price": 100.0 + i / 8}
            self.bus.publish(topic, payload, source="replay")
            self.published.append((topic, payload))
            if i % 5 == 4:
                self.outbox.flush()
            time.sleep(0.002)
        self.outbox.flush()


def test_a_client_that_reconnects_with_last_event_id_gets_every_event_once(
    server: str, db_engine: Engine
) -> None:
    auth, producer, got = bearer(server), Producer(db_engine), []
    total, first_visit = sum(Producer.PARTS), 25
    producer.start()
    with httpx.Client() as client:
        with stream(client, server, auth, "?last_event_id=0") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for event in read_sse(response):
                if event.id is not None:
                    got.append(received(event))
                if len(got) == first_visit:
                    break  # leaving the block drops the connection mid-stream
        producer.client_away.set()
        assert producer.second_part_done.wait(WAIT_S)
        # as a browser reconnects: the same URL, and the last id it saw in the header
        resume = {**auth, "Last-Event-ID": str(got[-1][0])}
        with stream(client, server, resume, "?last_event_id=0") as response:
            producer.client_back.set()
            for event in read_sse(response):
                if event.id is not None:
                    got.append(received(event))
                if len(got) == total:
                    break
    producer.join(WAIT_S)
    assert producer.error is None
    assert [(topic, payload) for _, topic, payload in got] == producer.published
    ids = [i for i, _, _ in got]
    assert ids == list(range(ids[0], ids[0] + total))  # each once, in order, none skipped


def test_without_an_id_the_stream_starts_now(server: str, db_engine: Engine) -> None:
    outbox = EventOutboxWriter(db_engine, "run-now")
    for i in range(5):
        outbox.record("risk.decision", START_MS, "risk", ("i",), (i,))
    outbox.flush()
    with httpx.Client() as client, stream(client, server, bearer(server)) as response:
        for i in range(5, 8):  # the stream is open: only these are new
            outbox.record("risk.decision", START_MS, "risk", ("i",), (i,))
        outbox.flush()
        first = next(e for e in read_sse(response) if e.id is not None)
    assert received(first) == (6, "risk.decision", {"i": 5})


def test_an_idle_stream_sends_keep_alive_comments(server: str) -> None:
    with httpx.Client() as client, stream(client, server, bearer(server)) as response:
        started = time.monotonic()
        first = next(read_sse(response))
    assert first.comments and first.id is None and not first.data
    assert time.monotonic() - started < 5


@pytest.fixture
def quick_app(sqlite_engine: Engine) -> FastAPI:
    config = ApiConfig(username=USERNAME, password=PASSWORD, secret=SECRET)
    return create_app(config, sqlite_engine, SimulatedClock(START_MS))


def test_the_stream_needs_credentials(quick_app: FastAPI) -> None:
    with TestClient(quick_app) as client:
        response = client.get(EVENTS, headers={"Last-Event-ID": "3"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("headers", "query", "where"),
    [
        ({"Last-Event-ID": "abc"}, "", ["header", "Last-Event-ID"]),
        ({"Last-Event-ID": "-1"}, "", ["header", "Last-Event-ID"]),
        ({}, "?last_event_id=x", ["query", "last_event_id"]),
        ({}, f"?last_event_id={2**63}", ["query", "last_event_id"]),
    ],
)
def test_a_bad_last_event_id_is_refused_naming_where(
    quick_app: FastAPI, headers: dict[str, str], query: str, where: list[str]
) -> None:
    with TestClient(quick_app) as client:
        token = client.post(
            "/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD}
        ).json()["access_token"]
        response = client.get(
            f"{EVENTS}{query}", headers={**headers, "Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [where]
