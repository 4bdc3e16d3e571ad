"""What the decision pipeline keeps per symbol (feature state, market state, the forecast window,
closes and candles for realised labels, recent feature rows for the covariate-shift check), its
config and counters."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.signals import Signal
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.features.labels import LabelSpec, classify_return
from quantum_trader.features.pipeline import FeatureConfig, StreamingFeatures
from quantum_trader.features.triple_barrier import StreamingBarrierLabels
from quantum_trader.features.universe import UNIVERSE_FEATURES, UniverseFeatures
from quantum_trader.strategy.market_state import MarketState, MarketStateTracker
from quantum_trader.strategy.selector import SelectionContext

XS_MOM_RANK = UNIVERSE_FEATURES.index("xs_mom_rank")
XS_AVAILABLE = UNIVERSE_FEATURES.index("xs_available")


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    timeframe: str
    labels: LabelSpec = field(default_factory=LabelSpec)
    window: int = 168  # history the forecasting members read (closes)
    shift_window: int = 168  # live feature rows compared with the training reference
    cross_asset: str = "BTCUSDT"
    features: FeatureConfig = field(default_factory=FeatureConfig)


class SymbolInputs:
    """What the pipeline keeps per symbol: feature state, indicators, history for labels.
    ``universe``: the cross-sections every symbol's features share under the universe
    features (``FeatureConfig.universe``; one per pipeline)."""

    def __init__(
        self,
        symbol: str,
        config: PipelineConfig,
        funding: Sequence[FundingRate],
        universe: UniverseFeatures | None = None,
    ):
        self.features = StreamingFeatures(symbol, config.timeframe, config.features, universe)
        self.symbol = symbol
        self.universe = universe
        self.tracker = MarketStateTracker(symbol)
        self.funding = sorted(funding, key=lambda f: f.funding_time)
        self.funding_next = 0
        self.window: deque[float] = deque(maxlen=config.window)
        self.labels = config.labels
        self.timeframe_ms = timeframe_ms(config.timeframe)
        self.closes: dict[int, float] = {}  # open time → close, oldest first: realised labels
        #: under barrier labels, the labeller of the realised labels (None: sign labels)
        self.barrier = self._barrier_labeller()
        self.rows: deque[np.ndarray] = deque(maxlen=config.shift_window)
        self.working_order: str | None = None  # the last market order sent, until it is done
        self.last_funding_rate = 0.0  # the last settlement known (the cost gate's funding)
        self.last_row: np.ndarray | None = None  # the feature row of the last candle decided on
        #: the secondary model's P(profitable) of the entry being decided (meta-labelling)
        self.meta_probability: float | None = None

    def fork_inputs(self, memo: dict[int, object] | None = None) -> SymbolInputs:
        """A copy whose member inputs (features, funding cursor, window) evolve on their own;
        what only decisions use (labels, shift rows, orders) is left empty. Forks of several
        symbols made with one ``memo`` share one copy of their shared universe state."""
        twin = copy.copy(self)  # shares the funding list and the tracker (never updated here)
        twin.features = copy.deepcopy(self.features, memo)
        twin.window = deque(self.window, maxlen=self.window.maxlen)
        twin.closes = {}
        twin.barrier = self._barrier_labeller()
        twin.rows = deque(maxlen=self.rows.maxlen)
        twin.working_order = None
        return twin

    def momentum_rank(self, open_time: int) -> float | None:
        """The symbol's momentum rank in the universe for its candle opened at ``open_time``
        (``xs_mom_rank``, the cross-section before it); None without universe features or while
        the cross-section is not available. The cross-sectional strategy reads it."""
        if self.universe is None:
            return None
        values = self.universe.values(self.symbol, open_time)
        return values[XS_MOM_RANK] if values[XS_AVAILABLE] else None

    # --- realised labels ------------------------------------------------------------------
    def _barrier_labeller(self) -> StreamingBarrierLabels | None:
        if self.labels.kind != "barrier":
            return None
        return StreamingBarrierLabels(self.labels.barrier_spec(), self.timeframe_ms)

    def record(self, candle: Candle) -> None:
        """Keep what the realised labels read: the close and, under barrier labels, the candle
        (its high and low; time order, as the barrier labeller requires)."""
        self.closes[candle.open_time] = candle.close
        if self.barrier is not None:
            self.barrier.update(candle.open_time, candle.high, candle.low, candle.close)

    def forget_before(self, open_time: int) -> None:
        """Drop the closes and labels of candles opened before ``open_time``."""
        closes = self.closes
        while closes and (oldest := next(iter(closes))) < open_time:
            del closes[oldest]
        if self.barrier is not None:
            self.barrier.forget_before(open_time)

    def realised_label(self, prediction_time: int) -> int | None:
        """The label of the candle opened at ``prediction_time``, of the kind the members were
        trained on: the sign of the return to the close ``horizon`` candles later, or the triple
        barrier (the batch's label, ``features/triple_barrier.py``); None until it is known."""
        if self.barrier is not None:
            return self.barrier.label(prediction_time)
        start = self.closes.get(prediction_time)
        end = self.closes.get(prediction_time + self.labels.horizon * self.timeframe_ms)
        if start is None or end is None:
            return None
        return classify_return(end / start - 1.0, self.labels.dead_zone)

    def realised_move(self, candle: Candle) -> tuple[float, int | None] | None:
        """The forward return over the horizon that ends with ``candle``'s close (recorded) and,
        under barrier labels, the class its first candle turned out to be (under sign labels
        None: the return's sign is its class). None when that candle's close is unknown, or its
        barrier label is (no σ yet)."""
        start = candle.open_time - self.labels.horizon * self.timeframe_ms
        then = self.closes.get(start)
        if then is None:
            return None
        move = candle.close / then - 1.0
        if self.barrier is None:
            return move, None
        label = self.barrier.label(start)
        return None if label is None else (move, label)

    def settled_funding(self, close_time: int) -> list[FundingRate]:
        """Funding settlements known at ``close_time`` and not yet fed to the features."""
        out = []
        items, i = self.funding, self.funding_next
        while i < len(items) and items[i].funding_time < close_time:
            out.append(items[i])
            i += 1
        self.funding_next = i
        if out:
            self.last_funding_rate = out[-1].rate
        return out


@dataclass(frozen=True, slots=True)
class PendingDecision:
    """A decision opened up to its strategy selection (``DecisionPipeline.open_decision``):
    the candle, its signal and, once the indicators are warm, the market state, the policy
    and what the selector will be asked (``selection``; None while warming up: nothing to
    choose)."""

    inputs: SymbolInputs
    candle: Candle
    signal: Signal
    market: MarketState | None
    policy: TradingPolicy | None
    selection: SelectionContext | None
    started_ns: int


@dataclass
class PipelineStats:
    decisions: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    intents: int = 0
    orders: int = 0
    risk: dict[str, int] = field(default_factory=dict)
    strategies: dict[str, int] = field(default_factory=dict)
    #: entries the cost gate refused: their expected edge did not pay for the trade
    cost_rejections: int = 0
    #: decisions whose strategy was benched in its regime and replaced by Neutral
    benched_substitutions: int = 0
    last_regimes: dict[str, str] = field(default_factory=dict)
    #: (decision time, risk mode, trading state) at the start and at each change of either:
    #: the report's risk-state timeline
    risk_timeline: list[tuple[int, str, str]] = field(default_factory=list)

    def note_risk(self, time: int, risk_mode: str, trading_state: str) -> None:
        """Record the risk mode and trading state a decision saw, if they changed."""
        last = self.risk_timeline[-1] if self.risk_timeline else None
        if last is None or last[1:] != (risk_mode, trading_state):
            self.risk_timeline.append((time, risk_mode, trading_state))
