"""Meta-labelling's secondary model, learned from the system's own primary decisions
(``QT_META_FILTER``; López de Prado, *Advances in Financial Machine Learning*, 2018, ch. 3.6).

The strategies' rules are the primary model: they say when to enter and on which side. This
module is the secondary model: a small gradient-boosted classifier (LightGBM) that predicts
the probability that a primary entry **is profitable after fees, slippage and funding**,
trained only on the rules' own entries — the conditional form of meta-labelling, where the
ensemble's probabilities (the cost gate, bet sizing) are the unconditional one.

How it learns, on the engine clock, the same in replay and live:

1. **Every** candle on which the chosen strategy's rule fires is an event — whether the
   account is flat or not, and whether the filter then lets the entry through or refuses it —
   so that what it learns is not biased by what it chose or held (the primary model's signals
   on every bar, as in AFML). An event keeps the decision's feature row, its side, its
   strategy, its entry (the close it was decided at) and its own exits: the stop-loss and
   take-profit the strategy would set, and a time limit of ``horizon`` candles.
2. Each later candle of the symbol resolves its open events: a candle that reaches the stop
   ends the trade at the stop (a candle through both barriers counts as the stop: it does not
   say which came first), one that reaches the target ends it at the target, and the
   ``horizon``-th candle ends it at its close. The net return is the side's return minus the
   round trip and the funding a position of that side would have paid over the candles held
   at the rate known at entry. Its label: profitable (net > 0) or not.
3. An event enters the training window only once resolved, at the candle that resolves it: the
   model that filters a decision has never seen the outcome of that decision, nor of any
   decision whose exits were still open (tested). The model is refitted from scratch every
   ``refit_every`` resolved events on the last ``window`` of them, once ``min_events`` are
   known; before that the filter lets every entry through (counted: ``unfiltered``).

The verdict: pass when the predicted probability p is at least the break-even probability of
the training window, p* = L / (W + L) with W the mean net gain of its profitable events and L
the mean net loss of the others (at p*, the expected net return is zero). p is also the win
probability the bet sizer reads (``strategy/bet_sizing.py``) when ``QT_BET_SIZING`` is on.

State lives in memory for the run (its events are rebuilt by replaying): a run that restarts
starts it cold, as the main job restarts its replay from the beginning.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from quantum_trader.domain import checks
from quantum_trader.domain.market import Candle
from quantum_trader.domain.orders import Side
from quantum_trader.strategy.cost_gate import FUNDING_INTERVAL_HOURS
from quantum_trader.strategy.intents import TradeIntent

#: the strategies whose rules make events, in the one-hot order the model reads
PRIMARY_STRATEGIES = ("TrendFollowing", "MeanReversion", "Breakout", "CrossSectional")


@dataclass(frozen=True, slots=True)
class MetaFilterConfig:
    """What a primary trade costs and how the secondary model is kept.

    >>> MetaFilterConfig(horizon=4, round_trip=0.0012).min_events
    200
    """

    horizon: int  # candles a primary trade is held at most (the label horizon)
    round_trip: float  # fees and slippage of opening and closing, fraction of notional
    timeframe_hours: float = 1.0
    min_events: int = 200
    window: int = 2_000
    refit_every: int = 100
    seed: int = 7

    def __post_init__(self) -> None:
        name = "MetaFilterConfig"
        checks.positive(name, "horizon", self.horizon)
        checks.non_negative(name, "round_trip", self.round_trip)
        checks.positive(name, "timeframe_hours", self.timeframe_hours)
        checks.positive(name, "refit_every", self.refit_every)
        if not 20 <= self.min_events <= self.window:
            raise ValueError(f"{name}: min_events={self.min_events} must be in [20, window]")


@dataclass(frozen=True, slots=True)
class MetaVerdict:
    passed: bool
    probability: float | None  # None: no model yet (the entry passes unfiltered)
    breakeven: float | None
    reason: str


@dataclass
class _Event:
    time: int  # open time of the candle decided on
    side: Side
    entry: float
    stop: float
    target: float
    funding_rate: float
    x: np.ndarray
    held: int = 0


@dataclass
class _Model:
    booster: object
    breakeven: float
    trained_on: int  # resolved events in the window it was fitted on


@dataclass
class MetaFilterStats:
    events: int = 0
    resolved: int = 0
    fits: int = 0
    unfiltered: int = 0
    passed: int = 0
    refused: int = 0
    by_outcome: dict[str, int] = field(default_factory=lambda: {"win": 0, "loss": 0})


class MetaFilter:
    """The secondary model (see the module docstring)."""

    def __init__(self, config: MetaFilterConfig) -> None:
        self.config = config
        self._open: dict[str, list[_Event]] = {}
        self._known: deque[tuple[np.ndarray, float]] = deque(maxlen=config.window)
        self._since_fit = 0
        self._model: _Model | None = None
        self.stats = MetaFilterStats()

    # --- events ---------------------------------------------------------------------------
    def record(
        self,
        symbol: str,
        open_time: int,
        side: Side,
        strategy: str,
        exits: tuple[float, float, float],
        row: np.ndarray,
        *,
        funding_rate: float,
    ) -> None:
        """A rule's primary decision on the candle opened at ``open_time`` (features ``row``):
        enter ``side`` with ``exits`` = (entry, stop-loss, take-profit)."""
        entry, stop, target = exits
        x = self.inputs(row, side, strategy)
        event = _Event(open_time, side, entry, stop, target, funding_rate, x)
        self._open.setdefault(symbol, []).append(event)
        self.stats.events += 1

    def judge(self, row: np.ndarray, side: Side, strategy: str) -> MetaVerdict:
        """Whether an entry of ``side`` by ``strategy`` on features ``row`` is expected to pay."""
        model = self._model
        if model is None:
            self.stats.unfiltered += 1
            return MetaVerdict(True, None, None, "no secondary model yet: unfiltered")
        x = self.inputs(row, side, strategy)
        p = float(model.booster.predict(x[None, :])[0])  # type: ignore[attr-defined]
        passed = p >= model.breakeven
        if passed:
            self.stats.passed += 1
        else:
            self.stats.refused += 1
        verdict = "at least" if passed else "below"
        return MetaVerdict(
            passed,
            p,
            model.breakeven,
            f"P(profitable) {p:.3f} {verdict} break-even {model.breakeven:.3f} "
            f"({model.trained_on} resolved entries)",
        )

    def assess(
        self, intent: TradeIntent, row: np.ndarray, *, open_time: int, funding_rate: float
    ) -> MetaVerdict:
        """:meth:`record` ``intent`` (an entry with its stop and target), then :meth:`judge` it."""
        if intent.stop_loss is None or intent.take_profit is None:
            raise ValueError(f"MetaFilter.assess: {intent.symbol} entry without stop and target")
        exits = (intent.price, intent.stop_loss, intent.take_profit)
        self.record(
            intent.symbol, open_time, intent.side, intent.strategy, exits, row,
            funding_rate=funding_rate,
        )  # fmt: skip
        return self.judge(row, intent.side, intent.strategy)

    @staticmethod
    def inputs(row: np.ndarray, side: Side, strategy: str) -> np.ndarray:
        """The model's input: the feature row, the side (+1/−1) and the strategy, one-hot."""
        one_hot = [1.0 if strategy == s else 0.0 for s in PRIMARY_STRATEGIES]
        return np.concatenate([np.asarray(row, dtype=np.float64), [float(side.sign)], one_hot])

    def observe(self, candle: Candle) -> None:
        """Resolve the open events of ``candle``'s symbol that this candle ends (it follows
        their decisions' candles); refit once enough have been resolved."""
        events = self._open.get(candle.symbol)
        if not events:
            return
        still: list[_Event] = []
        for event in events:
            if candle.open_time <= event.time:
                still.append(event)  # the candle decided on itself, or an older one
                continue
            event.held += 1
            exit_price = self._exit(event, candle)
            if exit_price is None:
                still.append(event)
                continue
            self._resolve(event, exit_price)
        self._open[candle.symbol] = still
        if self._since_fit >= self.config.refit_every and len(self._known) >= (
            self.config.min_events
        ):
            self._fit()

    def _exit(self, event: _Event, candle: Candle) -> float | None:
        long = event.side is Side.BUY
        stopped = candle.low <= event.stop if long else candle.high >= event.stop
        if stopped:
            return event.stop
        reached = candle.high >= event.target if long else candle.low <= event.target
        if reached:
            return event.target
        return candle.close if event.held >= self.config.horizon else None

    def _resolve(self, event: _Event, exit_price: float) -> None:
        cfg = self.config
        gross = event.side.sign * (exit_price / event.entry - 1.0)
        hours = event.held * cfg.timeframe_hours
        funding = event.side.sign * event.funding_rate * hours / FUNDING_INTERVAL_HOURS
        net = gross - cfg.round_trip - funding
        self._known.append((event.x, net))
        self._since_fit += 1
        self.stats.resolved += 1
        self.stats.by_outcome["win" if net > 0 else "loss"] += 1

    # --- the model --------------------------------------------------------------------------
    def _fit(self) -> None:
        import lightgbm as lgb  # the decision path imports it only when the filter is on

        x = np.vstack([k[0] for k in self._known])
        net = np.fromiter((k[1] for k in self._known), dtype=np.float64, count=len(self._known))
        y = (net > 0).astype(np.float64)
        self._since_fit = 0
        wins, losses = net[net > 0], net[net <= 0]
        if len(wins) == 0 or len(losses) == 0:
            self._model = None  # one outcome only: nothing to tell apart
            return
        gain, loss = float(wins.mean()), float(-losses.mean())
        params = {
            "objective": "binary",
            "num_leaves": 7,
            "learning_rate": 0.05,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.config.seed,
            "deterministic": True,
            "num_threads": 1,
            "verbosity": -1,
        }
        booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=60)
        self._model = _Model(booster, loss / (gain + loss), len(y))
        self.stats.fits += 1

    @property
    def trained_on(self) -> int:
        """Resolved events the current model was fitted on (0: none yet)."""
        return 0 if self._model is None else self._model.trained_on

    def known_times(self) -> int:
        """Resolved events in the training window (for tests and status)."""
        return len(self._known)
