"""Shadow trading: a decision pipeline that trades a virtual account beside production.

A candidate in the shadow is judged on matured labels by the shadow evaluator
(``learning/shadow.py``); that says whether its forecasts are better, not whether the system
trades better with it. A :class:`ShadowPair` answers the second question at zero capital: two
extra decision pipelines, built the same way as production's, follow the same candles from the
same moment, each on an account of its own (simulated exchange, portfolio, order manager and a
private bus, so that none of their orders, fills or events reaches a production module):

* the **challenger** account, whose ensemble serves the candidate in its line's slots;
* the **twin** account, identical except that the champion serves there.

Both start flat with the same equity, warmed on the same candles, so the one difference
between them is the candidate: the twin, not production (which holds positions opened before
the shadow began), is the champion the challenger is paired with. Per candle close, each
account's equity return; the paired difference of their Sharpe ratios with a block-bootstrap
interval over the same candles (``performance/significance.py``), their closed trades, net
PnL, fees and funding are the shadow's trading evidence.

The pipelines vote live (a replay's batch votes are production's only), after production has
decided on the candle: production's decision latency does not include them, but they share
its CPU. The shadow's risk engine reads production's policy (risk mode) and kill switch; its
breaker and limits see its own account.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import Clock
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.positions import Trade
from quantum_trader.engine.engine import Bar, BarColumns
from quantum_trader.engine.session import VenueFactory
from quantum_trader.engine.trader import TradingContext
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.performance.significance import block_bootstrap_difference
from quantum_trader.portfolio.portfolio import Portfolio

#: fewer paired candle returns than this: no interval (the bootstrap needs a few blocks)
MIN_PAIRED_RETURNS = 48


class ShadowAccount:
    """One pipeline trading a virtual account on the candles it is handed."""

    def __init__(
        self,
        name: str,
        trader: DecisionPipeline,
        venue: VenueFactory,
        specs: Mapping[str, SymbolSpec],
        clock: Clock,
        *,
        equity: float,
        started_at: int,
    ) -> None:
        self.name = name
        self.trader = trader
        self.portfolio = Portfolio(name)
        self.portfolio.deposit(equity, started_at, "shadow: the champion's equity at the start")
        self.exchange = venue(self.portfolio)
        # a bus of its own: the shadow's fills and closed trades reach its own modules only
        self.bus = InProcessBus(clock, name)
        self.orders = OrderManager(
            self.exchange, specs, clock, self.bus, name, mark=self.portfolio.mark_price
        )
        self.portfolio.trade_listeners.append(self.orders.on_trade_closed)
        self.trades: list[Trade] = []
        self.portfolio.trade_listeners.append(self.trades.append)
        trader.bind(TradingContext(self.orders, self.portfolio))

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        """The session's order for one candle: fills, then marks, then the decision."""
        self.exchange.on_bar(symbol, open_time, close_time, o, h, lo, c, v)
        self.portfolio.on_bar(symbol, open_time, close_time, o, h, lo, c, v)
        self.trader.on_bar(symbol, open_time, close_time, o, h, lo, c, v)

    def close(self) -> None:
        """Stop the pipeline's vote threads."""
        self.trader.close()

    def returns(self) -> np.ndarray:
        """Equity return per candle close since the start."""
        values = np.asarray(self.portfolio.equity_values, dtype=np.float64)
        if len(values) < 2:
            return np.zeros(0)
        return values[1:] / values[:-1] - 1.0


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """One shadow account's sub-ledger."""

    trades: int
    net_pnl: float
    fees: float
    funding: float
    equity: float

    @staticmethod
    def of(account: ShadowAccount) -> AccountFigures:
        trades = account.trades
        return AccountFigures(
            len(trades),
            sum(t.net_pnl for t in trades),
            sum(t.fees for t in trades),
            sum(t.funding for t in trades),
            account.portfolio.equity,
        )


@dataclass(frozen=True, slots=True)
class PairFigures:
    """A shadow's trading evidence: its account, the twin's, and their paired difference."""

    line: str
    version: int | None  # the candidate's registry version (None: a challenger that has none)
    started_at: int
    candles: int  # paired candle returns
    challenger: AccountFigures
    twin: AccountFigures
    #: annualised Sharpe of the challenger's candle returns minus the twin's, with a paired
    #: block-bootstrap interval; None under MIN_PAIRED_RETURNS returns
    sharpe_difference: float | None
    low: float | None
    high: float | None

    def summary(self) -> str:
        c, t = self.challenger, self.twin
        diff = (
            "too few candles for a Sharpe difference"
            if self.sharpe_difference is None
            else f"Sharpe difference {self.sharpe_difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"
        )
        name = self.line if self.version is None else f"{self.line} v{self.version}"
        return (
            f"{name} shadow trading over {self.candles} candles: "
            f"{c.trades} trades, net {c.net_pnl:+.2f} (fees {c.fees:.2f}) vs the twin's "
            f"{t.trades} trades, net {t.net_pnl:+.2f}; {diff}"
        )


class ShadowPair:
    """A challenger account and its champion twin, started together on one candidate: a line's
    model version, or (``version`` None) another part of the decision path, such as a learning
    strategy selector paired with production's selector (``app/qlearning_shadow.py``).

    ``replay``: the candles the pair will be fed, when they are known ahead (a pair that follows
    a whole replay): at the first candle each account's pipeline computes its votes for them in
    batch, as production's does before the replay (``DecisionPipeline.prepare_replay``: a
    prepared vote is used only where the decision's own input equals it)."""

    def __init__(
        self,
        line: str,
        version: int | None,
        challenger: ShadowAccount,
        twin: ShadowAccount,
        *,
        started_at: int,
        periods_per_year: float,
        seed: int = 0,
        warmed_until: Mapping[str, int] | None = None,
        replay: Callable[[], Iterable[Bar]] | None = None,
    ) -> None:
        self.line = line
        self.version = version
        self.challenger = challenger
        self.twin = twin
        self.started_at = started_at
        self._ppy = periods_per_year
        self._seed = seed
        #: per symbol, the open time of the last candle the pipelines were warmed on: the
        #: engine may still hand it over (the pair starts in a job run before that candle's
        #: handlers), and a pipeline must not see a candle twice
        self._warmed_until = dict(warmed_until or {})
        self._replay = replay
        #: votes prepared in batch for the accounts' pipelines (with ``replay``)
        self.prepared_votes = 0

    def _fed(self, bar: Bar) -> bool:
        return bar[1] > self._warmed_until.get(bar[0], -1)

    def _prepare(self) -> None:
        replay, self._replay = self._replay, None
        assert replay is not None
        for account in (self.challenger, self.twin):
            self.prepared_votes += account.trader.prepare_replay(filter(self._fed, replay()))

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        if open_time <= self._warmed_until.get(symbol, -1):
            return
        if self._replay is not None:
            self._prepare()
        self.challenger.on_bar(symbol, open_time, close_time, o, h, lo, c, v)
        self.twin.on_bar(symbol, open_time, close_time, o, h, lo, c, v)

    def close(self) -> None:
        self.challenger.close()
        self.twin.close()

    def figures(self, *, samples: int = 1000) -> PairFigures:
        ours, theirs = self.challenger.returns(), self.twin.returns()
        n = min(len(ours), len(theirs))
        difference = paired_sharpe_difference(
            ours[:n], theirs[:n], self._ppy, samples=samples, seed=self._seed
        )
        point, low, high = difference if difference is not None else (None, None, None)
        return PairFigures(
            self.line,
            self.version,
            self.started_at,
            n,
            AccountFigures.of(self.challenger),
            AccountFigures.of(self.twin),
            point,
            low,
            high,
        )


def paired_sharpe_difference(
    ours: np.ndarray, theirs: np.ndarray, ppy: float, *, samples: int = 1000, seed: int = 0
) -> tuple[float, float, float] | None:
    """Annualised Sharpe of ``ours`` minus ``theirs`` (candle returns of the same candles) with
    a 95 % paired block-bootstrap interval; None under :data:`MIN_PAIRED_RETURNS` returns."""
    if len(ours) < MIN_PAIRED_RETURNS:
        return None
    interval = block_bootstrap_difference(
        ours, theirs, periods_per_year=ppy, samples=samples, seed=seed
    )
    values = (interval.point, interval.low, interval.high)
    return values if all(math.isfinite(x) for x in values) else None


#: builds the pair for a line's candidate at the engine time given (None: it cannot be built,
#: e.g. the candidate's artifact does not load; the caller says why)
BuildPair = Callable[[str, int, int], ShadowPair | None]


class ShadowTrading:
    """The shadow pairs of a run: started when a line gets a challenger, finished when the
    challenger leaves (promoted or retired); fed each candle after production decided on it.
    A pair built by the caller (a challenger outside the model lines: :meth:`add`) runs until
    :meth:`finish_all`; ``build`` None: only such pairs."""

    def __init__(
        self,
        build: BuildPair | None,
        now: Callable[[], int],
        on_finished: Callable[[PairFigures], object] | None = None,
    ) -> None:
        self._build = build
        self._now = now
        self._on_finished = on_finished
        self.active: dict[str, ShadowPair] = {}
        self.finished: list[PairFigures] = []

    def on_challenger(self, line: str, version: int | None) -> PairFigures | None:
        """``line``'s challenger is now ``version`` (None: it has none). A new version starts a
        pair (the one before it finishes); the same version (a canary step) changes nothing.
        Returns the figures of a pair that finished."""
        current = self.active.get(line)
        if current is not None and current.version == version:
            return None
        done = None
        if current is not None:
            done = self._finish(line)
        if version is not None:
            if self._build is None:
                raise RuntimeError(f"ShadowTrading without a builder: {line} v{version}")
            pair = self._build(line, version, self._now())
            if pair is not None:
                self.add(pair)
        return done

    def add(self, pair: ShadowPair) -> None:
        """Run ``pair`` (keyed by its line) from the next candle on."""
        if pair.line in self.active:
            raise ValueError(f"ShadowTrading.add: {pair.line} already has an active pair")
        self.active[pair.line] = pair

    def _finish(self, line: str) -> PairFigures:
        pair = self.active.pop(line)
        pair.close()
        done = pair.figures()
        self.finished.append(done)
        if self._on_finished is not None:
            self._on_finished(done)
        return done

    def finish_all(self) -> list[PairFigures]:
        """Finish every active pair (the run stops): their figures as of now."""
        return [self._finish(line) for line in list(self.active)]

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        for pair in list(self.active.values()):
            pair.on_bar(symbol, open_time, close_time, o, h, lo, c, v)

    # --- fast-forward (engine.BarSkipper): quiet while no pair trades ----------------------
    def quiet_until(self, symbol: str, bars: BarColumns, start: int, stop: int) -> int:
        """Every candle is quiet while no pair is active; a pair starts in a scheduler job
        (the rollout's check), which ends any stretch the engine skips, or before the replay
        (:meth:`add`)."""
        return start if self.active else stop

    def skip_bars(self, symbol: str, bars: BarColumns, start: int, stop: int) -> None:
        if self.active:
            raise RuntimeError(
                "ShadowTrading.skip_bars with an active pair: it must see each candle"
            )

    def figures(self, *, finished: int | None = None) -> list[PairFigures]:
        """The pairs' evidence: finished ones as they ended (the last ``finished`` of them;
        None: all), then the active ones as of now."""
        ended = (
            self.finished
            if finished is None
            else self.finished[max(0, len(self.finished) - finished) :]
        )
        return [*ended, *(p.figures() for p in self.active.values())]
