"""How a caller shapes the main job (``app/main_job.py``): ``paper``'s pacing, kill switch and
live candle limit, ``run``'s venue acknowledgement, ``service engine --redis-url``'s candle
stream; the defaults are ``run``'s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quantum_trader.app.venue import RemoteFactory, ccxt_remote
from quantum_trader.engine.feeds import ReplayFeed
from quantum_trader.engine.session import BarSource
from quantum_trader.risk.kill_switch import KillSwitchStore

if TYPE_CHECKING:  # redis is imported only by a run that reads a stream
    import pandas as pd

    from quantum_trader.adapters.candle_stream import CandleStreamSource


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How ``paper`` and ``run --venue`` run the main job (the backtests leave the defaults).

    ``throttle_s``: real seconds slept per replayed candle (a paced replay); ``kill_switch``:
    where the risk engine reads the kill switch, when the run's database is not the home's (a
    paper replay of a past window keeps its own database, the operator's switch stays the
    home's); ``live_max_candles``: the live phase ends after that many candles; ``candles``:
    the replay's candles from the market-data role's stream (``service engine --redis-url``)
    instead of the engine's frames, which still serve what comes before the replay (training,
    warm-up) and check the stream's window (:meth:`replay_source`)."""

    throttle_s: float = 0.0
    kill_switch: KillSwitchStore | None = None
    live_max_candles: int | None = None
    produced_by: str | None = None  # the report's kind (default: backtest for a window, run)
    confirm: str = ""  # ``--confirm``: the acknowledgement a live venue needs (app/venue.py)
    remote: RemoteFactory = ccxt_remote  # the real venue's adapter (tests: the exchange double)
    candles: CandleStreamSource | None = None

    def replay_source(self, frames: Mapping[str, pd.DataFrame], timeframe: str) -> BarSource | None:
        """The session's ``source``: None (the frames' replay) unless ``candles`` is set, then
        the stream checked to carry exactly the window of ``frames`` (the engine's own)."""
        if self.candles is None:
            return None
        return self.candles.for_replay(ReplayFeed(frames, timeframe))
