"""A small finished run for the dashboard's tests, written through the project's own writers
(the execution store, the portfolio, the risk journal, the status table, the registry, the
experiment store): trades on two symbols with their decision references, orders and fills, an
open position, an equity curve, risk verdicts on every decision, 26 modules, a model line and
an experiment; and hourly candles of both symbols over the run's span in a candle store
(``seed_candles``), which the API reads for ``/candles`` and ``/benchmark``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.api.candles import StoreCandleReader
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Fill, Order, OrderIntent, OrderStatus, OrderType, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleState, ModuleStatus
from tests.api.conftest import START_MS, start_run

HOUR = 3_600_000
RUN = "r1"
TRADES = 12
HOURS = 240
SYMBOLS = ("BTCUSDT", "ETHUSDT")
PRICES = (100.0, 20.0)
MEMBERS = ("xgb@2", "lgbm@1")
#: their votes (p_down, p_flat, p_up, weight) and the ensemble's verdict on each decision
VOTES = ((0.2, 0.3, 0.5, 0.6), (0.1, 0.5, 0.4, 0.4))
SIGNAL = ("UP", 0.46, 0.21, 1)
UNVOTED = f"{RUN}-T1"  # i = 0: a decision stored before votes were kept
MODULES = 26
#: the trade whose trace the tests open, and what its decision says
TRACED = f"{RUN}-T4"  # i = 3: the first of (strategy, regime) below
TRACED_REGIME = "TRENDING_UP"
TRACED_STRATEGY = "Breakout"


def decision_of(i: int, symbol: str, at: int) -> DecisionRef:
    strategy = (TRACED_STRATEGY, "TrendFollowing", "MeanReversion")[i % 3]
    regime = (TRACED_REGIME, "SIDEWAYS", "VOLATILE")[i % 3]
    if i == 0:  # as stored before votes were kept with a decision
        return DecisionRef(
            f"{symbol}@{at}", strategy, "regime_rules", "fixed_fractional", MEMBERS, regime
        )
    return DecisionRef(
        f"{symbol}@{at}",
        strategy,
        "regime_rules",
        "fixed_fractional",
        MEMBERS,
        regime,
        VOTES,
        SIGNAL,
    )


def _round_trips() -> tuple[list[Order], list[Fill], list[Trade], list[RiskDecision]]:
    orders: list[Order] = []
    fills: list[Fill] = []
    trades: list[Trade] = []
    verdicts: list[RiskDecision] = []
    for i in range(TRADES):
        k = i % len(SYMBOLS)
        symbol, base = SYMBOLS[k], PRICES[k]
        opened = START_MS + (i * 18 + 2) * HOUR
        closed = opened + 6 * HOUR
        entry, exit_ = base * (1 + 0.01 * math.sin(i)), base * (1 + 0.01 * math.cos(i))
        side = Side.BUY if i % 2 == 0 else Side.SELL
        ref = decision_of(i, symbol, opened)
        sign = 1.0 if side is Side.BUY else -1.0
        pnl = sign * (exit_ - entry)
        for n, (t, o_side, price) in enumerate(
            ((opened, side, entry), (closed, side.opposite, exit_))
        ):
            cid = f"{RUN}-{symbol}-{2 * i + n + 1}"
            orders.append(Order(
                cid, symbol, o_side, OrderType.MARKET, 1.0, t, reduce_only=n == 1,
                status=OrderStatus.FILLED, filled_quantity=1.0, average_price=price,
                updated_at=t, reason=ref.strategy, decision=ref,
            ))  # fmt: skip
            fills.append(Fill(f"{cid}-F1", cid, symbol, o_side, 1.0, price, 0.01, t))
        trades.append(Trade(f"{RUN}-T{i + 1}", symbol, side, 1.0, entry, exit_, opened, closed,
                            pnl, 0.02, 0.0, ref.strategy, "signal", ref))  # fmt: skip
        intent = OrderIntent(symbol, side, 1.0, leverage=2.0, reason=f"{ref.strategy}: signal")
        verdicts.append(RiskDecision(ref.decision_id, Outcome.APPROVED, intent, 1.0, (), opened,
                                     TradingState.ACTIVE, RiskMode.MODERATE))  # fmt: skip
    return orders, fills, trades, verdicts


def seed(engine: Engine) -> None:
    clock = SimulatedClock(START_MS)
    book = Portfolio(RUN)
    book.deposit(10_000.0, START_MS)
    book.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.1, START_MS, f"{RUN}-open", fill_id="open")
    book.mark("BTCUSDT", 104.0)
    orders, fills, trades, verdicts = _round_trips()
    curve = [(START_MS + h * HOUR, 10_000.0 + 40 * math.sin(h / 15) + h) for h in range(HOURS)]
    start_run(engine, RUN, START_MS)
    state = json.dumps({"portfolio": book.snapshot()})
    SqlExecutionStore(engine).commit(CheckpointBatch(
        RUN, 1, START_MS + (HOURS - 1) * HOUR, True, state, orders, fills, trades,
        book.ledger.drain_pending(), curve,
    ))  # fmt: skip
    SqlRiskRepository(engine).record_decisions(verdicts)
    modules = [
        ModuleStatus(
            f"module_{n:02d}", True, ModuleState.ACTIVE, "ok", RUN, counters={"evidence": n}
        )
        for n in range(MODULES)
    ]
    SqlStatusRepository(engine).save(modules, START_MS)
    registry = ModelRegistry(SqlRegistryRepository(engine), clock)
    meta = ModelMetadata("xgb", "1", "BTCUSDT", 4, ("ret_1",), {"eta": 0.1}, (0, 9), "d")
    for n in (1, 2, 3):
        registry.register(meta, f"hash-{n}", actor="cli:trainer", reason="trained")
    registry.promote(
        ModelKey("xgb", "BTCUSDT", 4), 2, actor="a", reason="beats v1", to=Stage.PRODUCTION
    )
    registry.promote(
        ModelKey("xgb", "BTCUSDT", 4), 3, actor="rule:continuous-learning", reason="passed the gate"
    )
    spec = ExperimentSpec("ppo-vs-q", (ArmSpec("control"), ArmSpec("ppo")))
    SqlExperimentStore(engine).create(spec, START_MS)


#: the stored candles start a day before the run and end a day after it
CANDLE_HOURS = range(-24, HOURS + 24)


def close_of(symbol: str, hour: int) -> float:
    """The seeded close of ``symbol`` at ``START_MS + hour`` hours: a swing of 1.5 % around
    the price the seeded trades fill at (``PRICES``), so that their markers sit on the candles."""
    base = PRICES[SYMBOLS.index(symbol)]
    return base * (1.0 + 0.015 * math.sin(hour / (10 if symbol == "BTCUSDT" else 17)))


def seed_candles(root: Path) -> StoreCandleReader:
    """Hourly candles of ``SYMBOLS`` in a candle store under ``root``, on a clock past them
    (the store refuses candles from its clock's future)."""
    store = CandleStore(root, clock=SimulatedClock(START_MS + 400 * HOUR))
    for symbol in SYMBOLS:
        closes = [close_of(symbol, h) for h in CANDLE_HOURS]
        opens = [close_of(symbol, h - 1) for h in CANDLE_HOURS]
        frame = pd.DataFrame({
            "open_time": [START_MS + h * HOUR for h in CANDLE_HOURS],
            "open": opens,
            "high": [max(o, c) * 1.001 for o, c in zip(opens, closes, strict=True)],
            "low": [min(o, c) * 0.999 for o, c in zip(opens, closes, strict=True)],
            "close": closes,
            "volume": [10.0] * len(closes),
        })  # fmt: skip
        store.write(symbol, "1h", frame)
    return StoreCandleReader(store)


#: the metrics the backtest double reports (the browser test reads them on the page)
DOUBLE_METRICS = {"total_return": 0.0123, "max_drawdown": 0.034, "final_equity": 10_123.0}
#: a stand-in for ``quantum-trader backtest`` (the page's test needs no market data): it
#: writes ``metrics.json`` and ``report.html`` into ``--out`` after half a second
BACKTEST_DOUBLE = (
    sys.executable,
    "-c",
    "import json, pathlib, sys, time; time.sleep(0.5); "
    "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1]); out.mkdir(parents=True); "
    f"(out / 'metrics.json').write_text(json.dumps({{'metrics': {DOUBLE_METRICS!r}}})); "
    "(out / 'report.html').write_text('<html><body>backtest report</body></html>')",
)
