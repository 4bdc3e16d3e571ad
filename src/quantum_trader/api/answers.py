"""Read answers kept as JSON bytes until the database changes under them.

A read route's answer is a function of the database (and, for ``/status``, of the wall clock):
computing it again for every request is what made the API queue under load (docs/api.md,
"Latency under load": 139 ms of CPU for 1,000 trades, 316 ms for the experiments, which replay
their sequential tests from the records). Each answer is kept with what it was computed from:

* the database's **version** (``PRAGMA data_version`` on SQLite,
  ``adapters/sql/data_version.py``): read before every answer, a few microseconds; unchanged,
  nothing was committed since and the kept bytes are sent as they are;
* the answer's **stamp**, when its route has one: a cheap query whose value changes whenever the
  answer's own records do (``api/stamps.py``). When the version moved (a heartbeat, another
  table), the stamp is read; unchanged, the kept answer stands and is not computed again;
* a **tag** the route computes per request (``/status``: the wall-clock second its processes
  are judged UP or DOWN at).

So a change committed to the database shows on the next request. Without a version (PostgreSQL,
an in-memory SQLite) the stamp is read on every request, and a route without a stamp is
computed every time, as before. One computation at a time per answer: requests that arrive
while it runs wait for it and take its result instead of computing it 50 times.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

#: answers kept (each ``/trades?limit=…`` is its own); the oldest is dropped past this
CAPACITY = 64
#: computations of different answers that may run at once (keys share these locks by hash)
LOCKS = 32
#: bodies from this size on are also kept gzipped
GZIP_FROM = 1024


@dataclass(frozen=True, slots=True)
class Kept:
    version: int | None  # the database's version read before the answer was computed
    stamp: Hashable  # its records' stamp (None: the route has none)
    tag: Hashable
    body: bytes
    gzipped: bytes | None  # the body gzipped once, for clients that accept it (None: small)


class AnswerCache:
    """Answers by key, each kept until the database's ``version`` or its stamp changes.

    ``version``: the database's change counter, or None where there is none (every request
    then reads the stamp, or computes)."""

    def __init__(self, version: Callable[[], int] | None, capacity: int = CAPACITY) -> None:
        self._version = version
        self._capacity = capacity
        self._kept: dict[str, Kept] = {}
        self._store_lock = threading.Lock()
        self._locks = tuple(threading.Lock() for _ in range(LOCKS))
        self.computed = 0  # computations run (the tests count them)

    async def answer(
        self,
        key: str,
        compute: Callable[[], bytes],
        *,
        stamp: Callable[[], Hashable] | None = None,
        tag: Hashable = None,
    ) -> Kept:
        """The answer for ``key``: kept if nothing it depends on changed, else ``compute()``'s
        (in a worker thread: the event loop keeps serving kept answers meanwhile)."""
        kept = self._kept.get(key)
        if kept is not None and self._fresh(kept, self._read_version(), tag):
            return kept
        return await run_in_threadpool(self._refresh, key, compute, stamp, tag)

    def _refresh(
        self,
        key: str,
        compute: Callable[[], bytes],
        stamp: Callable[[], Hashable] | None,
        tag: Hashable,
    ) -> Kept:
        with self._locks[hash(key) % LOCKS]:
            # read first: a commit that lands while this computes moves it again, so the next
            # request looks again
            version = self._read_version()
            kept = self._kept.get(key)
            if kept is not None and self._fresh(kept, version, tag):
                return kept  # computed by the request this one waited for
            current = None if stamp is None else stamp()
            if kept is not None and stamp is not None and (kept.stamp, kept.tag) == (current, tag):
                # the database changed, this answer's records did not
                kept = Kept(version, current, tag, kept.body, kept.gzipped)
            else:
                body = compute()
                self.computed += 1
                small = len(body) < GZIP_FROM
                kept = Kept(version, current, tag, body, None if small else gzipped(body))
            self._keep(key, kept)
            return kept

    def _read_version(self) -> int | None:
        return None if self._version is None else self._version()

    def close(self) -> None:
        """Close the version's reader (its own SQLite connection) at the application's
        shutdown; answers asked after it read their stamps, as without a version."""
        version, self._version = self._version, None
        close = getattr(version, "close", None)
        if close is not None:
            close()

    @staticmethod
    def _fresh(kept: Kept, version: int | None, tag: Hashable) -> bool:
        return version is not None and kept.version == version and kept.tag == tag

    def _keep(self, key: str, kept: Kept) -> None:
        with self._store_lock:
            self._kept.pop(key, None)
            while len(self._kept) >= self._capacity:
                del self._kept[next(iter(self._kept))]  # the oldest kept
            self._kept[key] = kept


def gzipped(body: bytes) -> bytes:
    """``body`` gzipped (no timestamp: the same body always gives the same bytes)."""
    return gzip.compress(body, compresslevel=6, mtime=0)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip: named, or ``*``, without ``q=0``.

    >>> accepts_gzip("gzip, deflate"), accepts_gzip("br, gzip;q=0, *"), accepts_gzip(None)
    (True, False, False)
    """
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights.setdefault(coding.lower(), q)
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def json_answer(kept: Kept, request: Request) -> Response:
    """A kept answer as the route's response, gzipped when the client accepts it (browsers,
    curl ``--compressed``, httpx do): 1,000 trades are 337 KB of JSON, about a fifth of that
    gzipped, and sending the bytes was the largest part of a kept answer's cost. FastAPI sends
    a Response as it is: the route's ``response_model`` still documents it, and the body was
    serialised from that model."""
    headers = {"Vary": "Accept-Encoding"}
    if kept.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
        headers["Content-Encoding"] = "gzip"
        return Response(content=kept.gzipped, media_type="application/json", headers=headers)
    return Response(content=kept.body, media_type="application/json", headers=headers)
