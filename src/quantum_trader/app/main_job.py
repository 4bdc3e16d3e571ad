"""The main job behind ``quantum-trader run``: find data, replay it through the engine, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.app.data_sources import ReplayData, load_replay_data
from quantum_trader.app.feeds import ReplayFeed
from quantum_trader.app.runtime import Runtime, build_runtime
from quantum_trader.config.settings import Settings
from quantum_trader.data.guard import GuardedCandleFeed
from quantum_trader.domain.time import fmt
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    origin: str
    synthetic: bool
    summary: dict[str, Any]
    runtime: Runtime


def run_main_job(
    settings: Settings,
    *,
    synthetic: bool = False,
    run_id: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Replay the last ``replay_days`` of every configured symbol through the engine."""
    store = CandleStore(settings.effective_store_dir)
    data: ReplayData = load_replay_data(settings, store, synthetic=synthetic)
    feed = ReplayFeed(data.frames, settings.timeframe)
    start = min(int(f["open_time"].iloc[0]) for f in data.frames.values())
    rt = build_runtime(settings, mode="replay", start_ms=start, run_id=run_id)
    log.info(
        "run.start",
        data=data.origin,
        synthetic=data.synthetic,
        symbols=sorted(data.frames),
        candles=len(feed),
        database=settings.effective_database_url,
    )
    market = rt.modules["market_data"]
    for counter, n in store.counters.values.items():  # the loads and imports done above
        market.count(counter, n)
    # The guarded feed is what every module reads history through: no read past the clock.
    guard = GuardedCandleFeed(rt.clock, counters=market)
    for symbol, frame in data.frames.items():
        guard.add(symbol, settings.timeframe, frame)
    rt.start()
    if on_start is not None:
        on_start(len(feed))
    status = "FAILED"
    try:
        stats = rt.engine.run(feed, progress=on_progress)
        status = "FINISHED"
    finally:
        stats = rt.engine.stats
        summary = {
            "run_id": rt.run_id,
            "data": data.origin,
            "synthetic": data.synthetic,
            "symbols": sorted(data.frames),
            "timeframe": settings.timeframe,
            "candles": stats.candles,
            "first_close": fmt(stats.first_close) if stats.first_close else None,
            "last_close": fmt(stats.last_close) if stats.last_close else None,
            "scheduled_jobs_run": stats.jobs_run,
            "events_published": rt.bus.sequence,
        }
        rt.finish(status, summary)
        log.info("run.finish", status=status, candles=stats.candles)
    return RunResult(rt.run_id, data.origin, data.synthetic, summary, rt)
