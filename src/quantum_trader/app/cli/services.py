"""``quantum-trader service ROLE`` and ``quantum-trader up``: the system as processes.

Three roles exist today: ``engine`` (the main job, ``quantum-trader run``: market data,
decision, risk, execution and learning in one process), ``api`` (``quantum-trader serve``) and
``market-data``, which publishes the replay's closed candles on a Redis stream
(``adapters/candle_stream.py``); the engine given ``--redis-url`` replays the candles of that
stream instead of its store's. ``up`` starts ``engine`` and ``api``, and with ``--redis-url``
``market-data`` too, the engine reading its stream. The roles ``decision``,
``risk-execution`` and ``learning`` (issue 21) are not built: asking for one of them is refused
with that said. ``up`` starts the roles under the supervisor (``services/supervisor.py``):
their output prefixed with the role, a crashed role restarted, Ctrl-C stopping them all.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from quantum_trader.app.cli.options import key_prefix, redis_url_or_setting
from quantum_trader.app.cli.serve import CLI_COMMAND
from quantum_trader.config.redaction import redact_url
from quantum_trader.domain.errors import ConfigError
from quantum_trader.services.supervisor import Role, Supervisor
from quantum_trader.status.registry import ModuleState
from quantum_trader.status.services import CANDLE_STREAM

if TYPE_CHECKING:  # redis is imported by the roles that use it only
    import redis

    from quantum_trader.adapters.candle_stream import CandleStreamSource, PublishReport
    from quantum_trader.app.service_heartbeat import ServiceModules

app = typer.Typer()

#: the roles ``up`` starts (its default: all of them)
ROLES = ("engine", "api")
#: the role that publishes the candle stream: ``up`` starts it (first) with ``--redis-url``
MARKET_DATA = "market-data"
#: the roles that take ``--redis-url`` and ``--stream-prefix``
STREAM_ROLES = (MARKET_DATA, "engine")
#: the roles of issue 21 that the engine role still hosts in one process
NOT_SPLIT = ("decision", "risk-execution", "learning")


def check_role(role: str, *, by_up: bool = False, stream: bool = False) -> str:
    """``role`` if it can run as a process (started by ``up`` when ``by_up``, with a Redis
    for the candle stream when ``stream``); else ConfigError saying why."""
    if role in ROLES or (role == MARKET_DATA and (stream or not by_up)):
        return role
    if role == MARKET_DATA:
        raise ConfigError(
            "`up` starts market-data only with --redis-url (or QT_REDIS_URL): the Redis its "
            "candle stream goes to, and the engine role reads it from (docs/services.md)"
        )
    if role in NOT_SPLIT:
        raise ConfigError(
            f"service role {role!r} is not built as a process of its own yet: the engine role "
            "runs the decision path, risk and execution and learning in one process "
            "(`quantum-trader service engine`; docs/services.md)"
        )
    raise ConfigError(f"unknown service role {role!r}; roles: {', '.join((*ROLES, MARKET_DATA))}")


def role_commands(
    roles: list[str], redis_url: str | None = None, prefix: str = "qt", *, url_in_argv: bool = True
) -> list[Role]:
    """The processes ``up`` starts: this interpreter running ``service <role>`` for each; with
    ``redis_url`` market-data and the engine get it and the stream's prefix. Without
    ``url_in_argv`` (the URL is ``QT_REDIS_URL``'s) they read the setting themselves, so a
    password in it does not show in the process list."""
    url = ("--redis-url", redis_url) if redis_url is not None and url_in_argv else ()
    stream = () if redis_url is None else (*url, "--stream-prefix", prefix)
    follow = {MARKET_DATA: ("--follow",)}  # keeps the stream whole until the engine read it
    return [
        Role(
            role,
            (*CLI_COMMAND, "service", check_role(role, by_up=True, stream=bool(stream)))
            + (stream + follow.get(role, ()) if role in STREAM_ROLES else ()),
        )
        for role in roles
    ]


def redis_client(redis_url: str) -> redis.Redis:
    """A client of ``redis_url`` that answered a PING; else ConfigError naming the URL (its
    password hidden)."""
    import redis

    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        shown = redact_url(redis_url)
        raise ConfigError(f"--redis-url {shown}: Redis does not answer ({exc})") from exc
    return client


def stream_source(redis_url: str, prefix: str) -> CandleStreamSource:
    """The engine role's replay candles (``service engine --redis-url``): the stream
    ``<prefix>:market.candle.closed`` that market-data publishes, in the settings' timeframe."""
    from quantum_trader.adapters.candle_stream import CandleStreamSource
    from quantum_trader.config.settings import load_settings

    timeframe = load_settings().timeframe  # before Redis: a bad setting says so first
    return CandleStreamSource(redis_client(redis_url), prefix, timeframe)


def market_data(
    redis_url: str | None, prefix: str, pause_s: float, batch: int, follow: bool = False
) -> None:
    """The market-data role: the replay's closed candles (the main job's window, from the
    store, as ``run`` loads them) published on ``<prefix>:market.candle.closed``, from where
    the stream left off, then its end-of-stream entry; prints what it did. With ``follow`` it
    then stays until a reader has read that end, publishing again what a Redis restart lost.
    Its process beats in ``service_processes`` and reports its module, ``candle_stream``."""
    from quantum_trader.adapters.candle_store import CandleStore
    from quantum_trader.adapters.candle_stream import CandleStreamPublisher
    from quantum_trader.app.data_sources import load_replay_data
    from quantum_trader.app.service_heartbeat import ServiceHeartbeat, ServiceModules
    from quantum_trader.app.storage import open_settings_database
    from quantum_trader.config.settings import load_settings
    from quantum_trader.engine.feeds import ReplayFeed

    if not redis_url:
        raise ConfigError(
            "service market-data needs --redis-url (or QT_REDIS_URL): the Redis its stream goes to"
        )
    settings = load_settings()
    client = redis_client(redis_url)
    store = CandleStore(settings.effective_store_dir)
    data = load_replay_data(settings, store, synthetic=False)
    feed = ReplayFeed(data.frames, settings.timeframe)
    publisher = CandleStreamPublisher(client, prefix, batch=batch, pause_s=pause_s)
    print(f"market-data: {len(feed)} {settings.timeframe} candles of {', '.join(feed.symbols)} "
          f"({data.origin}) to {publisher.stream}", flush=True)  # fmt: skip
    db = open_settings_database(settings)
    module = StreamModule(ServiceModules(db, MARKET_DATA), publisher.stream, len(feed))
    # `status` shows the process UP while it publishes, STOPPED after, DOWN when it was killed
    heartbeat = ServiceHeartbeat(db, MARKET_DATA, modules=module.names)
    try:
        report = publisher.publish(feed, settings.timeframe, on_batch=module.on_stream)
        module.published(report, follow=follow)
        print(
            f"market-data: {report.published} published, {report.resumed_after} already on the "
            f"stream, end of stream written ({report.elapsed_s:.2f} s; Redis restarted "
            f"{report.redis_restarts}x meanwhile)",
            flush=True,
        )
        if follow:
            print("market-data: following until the engine has read the end", flush=True)
            module.following()
            again = publisher.follow(feed, settings.timeframe)
            module.followed(again)
            print(f"market-data: the end was read; published again {again}x", flush=True)
    except BaseException as exc:
        module.ended_by(exc)
        raise
    finally:
        heartbeat.stop()


class StreamModule:
    """The market-data role's module, ``candle_stream``, in ``status``: ACTIVE while it
    publishes and follows, with what its publisher did as evidence (the replay's candles, those
    already on the stream at start, those it published, the Redis restarts it saw, the times it
    published again while following) and, at the end, how it ended."""

    def __init__(self, modules: ServiceModules, stream: str, candles: int) -> None:
        self._modules, self._stream, self._candles = modules, stream, candles
        self._phase = "publishing"
        self._handle = modules.register(
            CANDLE_STREAM, f"publishing the replay's {candles} candles on {stream}"
        )
        self._handle.gauge("candles", candles)
        modules.flush()
        self._flushed = time.monotonic()

    def names(self) -> list[str]:
        return self._modules.names()

    def on_stream(self, candles: int) -> None:
        """While publishing: the replay's candles on the stream now, written to the database at
        most once a second (and with the end, by :meth:`published`)."""
        self._handle.gauge("on_stream", candles)
        now = time.monotonic()
        if now - self._flushed >= 1.0:
            self._flushed = now
            self._modules.flush()

    def published(self, report: PublishReport, *, follow: bool) -> None:
        """``publish`` returned ``report``; ``follow``: the role follows next (:meth:`following`
        says so), else it ends here."""
        handle = self._handle
        handle.gauge("already_on_stream", report.resumed_after)
        handle.gauge("on_stream", self._candles)
        handle.count("published", report.published)
        handle.gauge("redis_restarts", report.redis_restarts)
        if follow:
            return
        handle.set_state(ModuleState.ACTIVE, (
            f"ended: {self._stream} holds the replay's {self._candles} candles and its end "
            f"({report.published} published by this process, {report.resumed_after} already there)"
        ))  # fmt: skip
        self._modules.flush()

    def following(self) -> None:
        self._phase = "following"
        self._handle.gauge("published_again", 0)
        self._handle.set_state(ModuleState.ACTIVE, (
            f"following {self._stream}: its end written, until a reader has read it (a stream "
            "that a Redis restart lost is published again)"
        ))  # fmt: skip
        self._modules.flush()

    def followed(self, again: int) -> None:
        self._handle.gauge("published_again", again)
        self._handle.set_state(ModuleState.ACTIVE, (
            f"ended: a reader read the end of {self._stream}; published again {again}x while "
            "following"
        ))  # fmt: skip
        self._modules.flush()

    def ended_by(self, exc: BaseException) -> None:
        """The role ended by ``exc``: FAILED by an error, said stopped by Ctrl-C (SIGINT)."""
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, Exception):
            self._handle.set_state(ModuleState.FAILED, f"failed while {self._phase}: {what}")
        else:  # KeyboardInterrupt (`up` stops its roles with SIGINT), SystemExit
            self._handle.set_state(ModuleState.ACTIVE, f"stopped while {self._phase} ({what})")
        self._modules.flush()


@app.command()
def up(
    roles: Annotated[
        list[str] | None, typer.Option("--role", help="a role to start (repeat); default: all")
    ] = None,
    max_restarts: Annotated[
        int, typer.Option(min=0, max=100, help="restarts of a crashed role before giving up")
    ] = 3,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="start market-data too, on this Redis; the engine reads its stream "
            "(default: QT_REDIS_URL)",
        ),
    ] = None,
    prefix: Annotated[
        str,
        typer.Option(
            "--stream-prefix", callback=key_prefix, help="the stream PREFIX:market.candle.closed"
        ),
    ] = "qt",
) -> None:
    """Start the service roles (engine, api; market-data with --redis-url) and supervise them
    until they end or Ctrl-C."""
    given = redis_url is not None
    redis_url = redis_url_or_setting(redis_url)
    default = ((MARKET_DATA,) if redis_url else ()) + ROLES
    chosen = list(dict.fromkeys(roles or default))
    commands = role_commands(chosen, redis_url, prefix, url_in_argv=given)
    supervisor = Supervisor(commands, sys.stdout, max_restarts=max_restarts)
    raise typer.Exit(supervisor.run())
