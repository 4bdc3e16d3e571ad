"""The smallest faithful loop over the project's real strategies, for the selectors' learnability
tests: synthetic markets whose best strategy per regime is known by construction.

What it keeps from the decision path (``decision/pipeline.py``): per symbol and closed candle,
the project's :class:`MarketStateTracker` (ATR, Donchian channel, Bollinger z), the selector
asked through the :class:`StrategySelector` port with a :class:`SelectionContext`, the chosen
**real strategy class** deciding entries and exits (``Strategy.decide``: stop at the policy's
2 %, target at 2 × the stop, MeanReversion's target at the mean), orders filling at the next
candle's open, brackets (stop first when a candle touches both), the simulated exchange's
:class:`FeeSchedule` (taker for market orders and stops, maker for take-profits), and closed
:class:`Trade` records carrying the :class:`DecisionRef` of the decision that opened them, which
go to the learner as ``execution.trade.closed`` would.

What it skips, and stands in for: the four ensemble members (the signal is the sign of the
last three returns, its confidence ``0.05 + min(0.1·|z|, 0.3)`` — always at or above the
strategies' entry threshold, so no state is one where no strategy can act); the regime detector
(the context gets the generator's true regime: the regime is known by construction); the sizer
and the risk engine (every entry is 1,000 USDT of notional; the reward is per notional anyway);
funding, slippage and the venue's step sizes; the expectancy bench. ``recent_pnl`` is the net
PnL of the account's trades closed in the last 24 hours (the pipeline uses the day's PnL).

:func:`run` drives a :class:`Loop`, the same loop in steppable form (a generator of decision
contexts, each answered by :meth:`Loop.decide`), which ``loop_env.py`` steps one decision per
environment step.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from quantum_trader.data.synthetic import (
    RegimeSpec,
    SyntheticConfig,
    SyntheticSeries,
    generate_market,
)
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.market import Candle, Regime
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.signals import Direction, Signal
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.market_state import MarketState, MarketStateTracker
from quantum_trader.strategy.selector import SelectionContext, StrategySelector
from quantum_trader.strategy.strategies import default_strategies

#: the regimes, by construction (hourly log returns; the generator's base volatility is ~0.3 %):
#: BULL trends up with momentum; SIDEWAYS has no drift and strongly negative autocorrelation
#: (moves partly revert); VOLATILE has no drift and positive autocorrelation (moves extend);
#: BEAR is a driftless, uncorrelated random walk — a martingale, where no rule beats its costs.
REGIMES: tuple[RegimeSpec, ...] = (
    RegimeSpec("BULL", 0.0015, 1.0, 0.15),
    RegimeSpec("BEAR", 0.0, 1.5, 0.0),
    RegimeSpec("SIDEWAYS", 0.0, 3.0, -0.7),
    RegimeSpec("VOLATILE", 0.0, 3.0, 0.45),
)
#: the best strategy of each regime by construction (the argument is in ``REGIMES``' comment and
#: in ``tests/agents/test_qlearning_learnability.py``); the test confirms it by measurement
BEST: dict[str, str] = {
    "BULL": "TrendFollowing",
    "BEAR": "Neutral",
    "SIDEWAYS": "MeanReversion",
    "VOLATILE": "Breakout",
}
NOTIONAL = 1_000.0
WARMUP = 50
#: the stand-in forecast's noise, in units of the current volatility
NOISE = 0.15


def market(seed: int, candles: int, symbols: int = 4) -> list[SyntheticSeries]:
    """Synthetic symbols over a regime schedule of blocks of 200-500 candles, every regime in
    turn in a seeded order (no jumps: a jump is no regime's property)."""
    rng = np.random.default_rng([seed, 99])
    schedule, start = [], 0
    while start < candles:
        for regime in rng.permutation(len(REGIMES)):
            if start < candles:
                schedule.append((start, int(regime)))
                start += int(rng.integers(200, 501))
    cfg = SyntheticConfig(seed=seed, candles=candles, regimes=REGIMES, schedule=tuple(schedule),
                          jump_probability=0.0)  # fmt: skip
    return generate_market(cfg, [f"S{i}USDT" for i in range(symbols)])


@dataclass
class _Open:
    side: Side
    quantity: float
    price: float
    time: int
    fee: float
    stop: float
    target: float
    ref: DecisionRef


@dataclass
class _Symbol:
    tracker: MarketStateTracker
    closes: deque[float] = field(default_factory=lambda: deque(maxlen=1))
    var: float = 0.0
    vols: deque[float] = field(default_factory=deque)
    ranked: list[float] = field(default_factory=list)
    position: _Open | None = None
    order: tuple[TradeIntent, DecisionRef] | None = None


@dataclass
class LoopResult:
    decisions: list[tuple[str, str]]  # (true regime, chosen strategy)
    trades: list[tuple[str, Trade]]  # (true regime at the opening decision, trade)


def run(
    series: Sequence[SyntheticSeries],
    selector: StrategySelector,
    on_trade: Callable[[Trade], object] | None = None,
    *,
    on_open: Callable[[str, str], object] | None = None,
    seed: int = 0,
) -> LoopResult:
    """Every symbol, candle by candle in time order, through ``selector`` and the strategies."""
    loop = Loop(series, selector.name, on_trade, on_open=on_open, seed=seed)
    for ctx in loop.pending():
        loop.decide(selector.select(ctx).strategy)
    return loop.out


@dataclass(frozen=True, slots=True)
class Mark:
    """One symbol's book at a decision, from its start: closed trades' net PnL (both fees
    included) and the open position's PnL at the candle's close less its entry fee (paid at the
    fill); from flat to flat the equity moves by the closed trades' net PnL."""

    realised: float
    unrealised: float
    position: float  # signed notional at the close

    @property
    def equity(self) -> float:  # over the account's start
        return self.realised + self.unrealised


class Loop:
    """:func:`run` in steppable form: :meth:`pending` yields each decision's context and waits;
    :meth:`decide` gives it a strategy before the generator is resumed (what ``run`` does with
    its selector; ``tests/agents/loop_env.py`` steps it one decision per environment step)."""

    def __init__(
        self,
        series: Sequence[SyntheticSeries],
        selector_name: str,
        on_trade: Callable[[Trade], object] | None = None,
        *,
        on_open: Callable[[str, str], object] | None = None,
        seed: int = 0,
    ) -> None:
        self.series, self.selector_name, self.seed = series, selector_name, seed
        self.on_trade, self.on_open = on_trade, on_open
        self.strategies = default_strategies()
        self.policy, self.fees = TradingPolicy(), FeeSchedule()
        self.state = {s.symbol: _Symbol(MarketStateTracker(s.symbol)) for s in series}
        self.realised = dict.fromkeys(self.state, 0.0)
        self.recent: deque[tuple[int, float]] = deque()
        self.out = LoopResult([], [])
        self._open: tuple[_Symbol, str, Signal, MarketState, str] | None = None

    def close(
        self, sym: _Symbol, symbol: str, price: float, time: int, fee_rate: float, why: str
    ) -> None:
        pos = sym.position
        assert pos is not None
        fee = pos.quantity * price * fee_rate
        pnl = pos.side.sign * (price - pos.price) * pos.quantity
        trade = Trade(f"{pos.ref.decision_id}-T", symbol, pos.side, pos.quantity, pos.price, price,
                      pos.time, time, pnl, pos.fee + fee, strategy=pos.ref.strategy,
                      exit_reason=why, decision=pos.ref)  # fmt: skip
        sym.position = None
        self.realised[symbol] += trade.net_pnl
        self.recent.append((time, trade.net_pnl))
        self.out.trades.append((pos.ref.regime, trade))
        if self.on_trade is not None:
            self.on_trade(trade)

    def mark(self, symbol: str) -> Mark:
        """``symbol``'s account at its last candle's close."""
        sym = self.state[symbol]
        pos, close = sym.position, sym.closes[-1]
        if pos is None:
            return Mark(self.realised[symbol], 0.0, 0.0)
        unrealised = pos.side.sign * (close - pos.price) * pos.quantity - pos.fee
        return Mark(self.realised[symbol], unrealised, pos.side.sign * pos.quantity * close)

    def pending(self) -> Iterator[SelectionContext]:
        """Each decision's context, in :func:`run`'s order; :meth:`decide` answers each."""
        names = self.series[0].regime_names
        frames = [(s, s.frame.to_numpy()) for s in self.series]
        shape = (len(self.series[0].frame), len(self.series))
        noise = np.random.default_rng([self.seed, 7]).standard_normal(shape)
        specs = {spec.name: spec for spec in REGIMES}
        for t in range(shape[0]):
            for i, (s, rows) in enumerate(frames):
                sym = self.state[s.symbol]
                o, h, lo, c, v = (float(x) for x in rows[t, 1:6])
                candle = Candle(s.symbol, "1h", int(rows[t, 0]), o, h, lo, c, v)
                regime = names[s.regimes[t]]
                now = candle.close_time
                _fill(sym, s.symbol, candle, self.fees, self.close, self.on_open)
                _brackets(sym, s.symbol, candle, self.fees, self.close)
                signal, vol_pct = _indicators(sym, s.symbol, candle, specs[regime], noise[t, i])
                mkt = sym.tracker.update(candle, Regime(regime), vol_pct)
                if t < WARMUP or signal is None:
                    continue
                while self.recent and self.recent[0][0] <= now - 24 * 3_600_000:
                    self.recent.popleft()
                self._open = (sym, s.symbol, signal, mkt, regime)
                yield SelectionContext(s.symbol, mkt.time, Regime(regime), None, vol_pct,
                                       signal.confidence, math.fsum(p for _, p in self.recent),
                                       RiskMode.MODERATE)  # fmt: skip
                if self._open is not None:
                    raise RuntimeError(f"Loop: the decision on {s.symbol}@{mkt.time} was not made")

    def decide(self, strategy: str) -> None:
        """Answer the open decision: the strategy decides; its order fills at the next open."""
        if self._open is None:
            raise RuntimeError("Loop.decide: no decision is open")
        sym, symbol, signal, mkt, regime = self._open
        self._open = None
        self.out.decisions.append((regime, strategy))
        held = 0.0 if sym.position is None else sym.position.side.sign * sym.position.quantity
        intent = self.strategies[strategy].decide(signal, mkt, held, self.policy)
        if intent is not None:
            ref = DecisionRef(f"{symbol}@{mkt.time}", strategy, self.selector_name,
                              "fixed_notional", (), regime)  # fmt: skip
            sym.order = (intent, ref)


def _fill(
    sym: _Symbol,
    symbol: str,
    candle: Candle,
    fees: FeeSchedule,
    close: Callable[..., None],
    on_open: Callable[[str, str], object] | None,
) -> None:
    """The order placed at the last close fills at this candle's open (taker)."""
    if sym.order is None:
        return
    intent, ref = sym.order
    sym.order = None
    price = candle.open
    if intent.action is TradeAction.EXIT and sym.position is not None:
        close(sym, symbol, price, candle.open_time, fees.taker, intent.reason)
    elif intent.action is TradeAction.ENTRY and sym.position is None:
        assert intent.stop_loss is not None and intent.take_profit is not None
        qty = NOTIONAL / price
        sym.position = _Open(intent.side, qty, price, candle.open_time, qty * price * fees.taker,
                             intent.stop_loss, intent.take_profit, ref)  # fmt: skip
        if on_open is not None:  # as execution.order.filled tells a selector following it
            on_open(symbol, ref.strategy)


def _brackets(
    sym: _Symbol, symbol: str, candle: Candle, fees: FeeSchedule, close: Callable[..., None]
) -> None:
    """Stop (taker; at the open when the candle gaps past it) before target (maker)."""
    pos = sym.position
    if pos is None:
        return
    long = pos.side is Side.BUY
    if (candle.low <= pos.stop) if long else (candle.high >= pos.stop):
        price = min(pos.stop, candle.open) if long else max(pos.stop, candle.open)
        close(sym, symbol, price, candle.close_time, fees.taker, "stop")
    elif (candle.high >= pos.target) if long else (candle.low <= pos.target):
        price = max(pos.target, candle.open) if long else min(pos.target, candle.open)
        close(sym, symbol, price, candle.close_time, fees.maker, "target")


def _indicators(
    sym: _Symbol, symbol: str, candle: Candle, spec: RegimeSpec, noise: float
) -> tuple[Signal | None, float]:
    """The stand-in signal and the volatility percentile (rank of the 24-candle EWMA volatility
    among its last 720 values).

    The signal is what a competent ensemble would say: the sign of a noisy one-step forecast,
    the generator's own conditional mean ``drift + momentum·(r - drift)`` plus ``noise`` (a
    standard normal draw times 0.3 σ); its confidence ``0.05 + min(0.5·|forecast|/σ, 0.3)``."""
    first = not sym.closes
    r = 0.0 if first else math.log(candle.close / sym.closes[-1])
    sym.var += 2 / 25 * (r * r - sym.var)
    sym.closes.append(candle.close)
    vol = math.sqrt(sym.var)
    if len(sym.vols) == 720:
        del sym.ranked[bisect.bisect_left(sym.ranked, sym.vols.popleft())]
    sym.vols.append(vol)
    bisect.insort(sym.ranked, vol)
    pct = bisect.bisect_left(sym.ranked, vol) / len(sym.ranked)
    if first or vol == 0:
        return None, pct
    forecast = spec.drift + spec.momentum * (r - spec.drift) + NOISE * vol * noise
    conf = 0.05 + min(0.5 * abs(forecast) / vol, 0.3)
    direction = Direction.UP if forecast > 0 else Direction.DOWN
    return Signal(symbol, candle.close_time, direction, 0.5 + conf / 2, conf, ()), pct
