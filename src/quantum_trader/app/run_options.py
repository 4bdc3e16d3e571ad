"""How a caller shapes the main job (``app/main_job.py``): ``paper``'s pacing, kill switch and
live candle limit, ``run``'s venue acknowledgement; the defaults are ``run``'s."""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.app.venue import RemoteFactory, ccxt_remote
from quantum_trader.risk.kill_switch import KillSwitchStore


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How ``paper`` and ``run --venue`` run the main job (the backtests leave the defaults).

    ``throttle_s``: real seconds slept per replayed candle (a paced replay); ``kill_switch``:
    where the risk engine reads the kill switch, when the run's database is not the home's (a
    paper replay of a past window keeps its own database, the operator's switch stays the
    home's); ``live_max_candles``: the live phase ends after that many candles."""

    throttle_s: float = 0.0
    kill_switch: KillSwitchStore | None = None
    live_max_candles: int | None = None
    produced_by: str | None = None  # the report's kind (default: backtest for a window, run)
    confirm: str = ""  # ``--confirm``: the acknowledgement a live venue needs (app/venue.py)
    remote: RemoteFactory = ccxt_remote  # the real venue's adapter (tests: the exchange double)
