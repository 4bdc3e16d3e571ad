"""Every topic's codec: a record round-trips, in process and through JSON (as Redis carries it),
and its payload is, key for key and value for value, the payload published before topics were
typed (so the replay's event-log hash is unchanged). Adding a topic means adding a sample here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import quantum_trader
from quantum_trader.bus import Event, HandlerError, InProcessBus, publish_event, subscribe_records
from quantum_trader.bus import topics as topics_module
from quantum_trader.bus.codec import Topic, topic
from quantum_trader.bus.topics import ALL, BY_NAME
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.canonical import canonical_bytes
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.events import (
    AlertSeverity,
    CovariateShift,
    DriftDetected,
    HealthAlert,
    ModelStageChange,
    OrderFilled,
    PolicyUpdate,
    RegimeChange,
    RegimeScope,
    ShiftAction,
    ShiftEvidence,
    ShiftState,
)
from quantum_trader.domain.market import Candle, Regime
from quantum_trader.domain.orders import Fill, Order, OrderIntent, OrderStatus, OrderType, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState, TradingStateChange

CANDLE = Candle("BTCUSDT", "1h", 3_600_000, 100.0, 101.5, 99.0, 100.5, 12.25)
INTENT = OrderIntent("BTCUSDT", Side.BUY, 0.5, stop_loss=95.0, leverage=2.0, reason="trend")
REF = DecisionRef("BTCUSDT@7", "TrendFollowing", "regime_rules", "fixed_fractional", ("xgb@2",),
                  "", ((0.25, 0.25, 0.5, 1.0),), ("UP", 0.5, 0.25, 1))  # fmt: skip
REF_PAYLOAD = {"decision_id": "BTCUSDT@7", "strategy": "TrendFollowing",
               "selector": "regime_rules", "sizer": "fixed_fractional", "members": ["xgb@2"],
               "regime": "", "votes": [[0.25, 0.25, 0.5, 1.0]],
               "signal": ["UP", 0.5, 0.25, 1]}  # fmt: skip
ORDER = Order(
    "c-1", "BTCUSDT", Side.SELL, OrderType.LIMIT, 2.0, 5, price=10.5, reason="x", decision=REF
)
FILLED = Order(
    "c-1", "BTCUSDT", Side.SELL, OrderType.LIMIT, 2.0, 5, 10.5, None, False,
    OrderStatus.FILLED, 2.0, 10.5, 7, "x",
)  # fmt: skip
FILL = Fill("c-1-F1", "c-1", "BTCUSDT", Side.SELL, 2.0, 10.5, 0.0042, 7, is_maker=True)
TRADE = Trade("t-1", "BTCUSDT", Side.BUY, 2.0, 10.0, 10.5, 1, 7, 1.0, 0.01, -0.002, "s", "tp", REF)

#: topic -> (a record, the payload the publisher built by hand before topics were typed; orders
#: and trades carry their decision since 2026-12-03, its regime since issue 16, its votes and
#: the ensemble's verdict since issue 20's decision trace)
SAMPLES: dict[str, tuple[object, dict[str, Any]]] = {
    "market.candle.closed": (
        CANDLE,
        {"symbol": "BTCUSDT", "timeframe": "1h", "open_time": 3_600_000, "open": 100.0,
         "high": 101.5, "low": 99.0, "close": 100.5, "volume": 12.25},
    ),
    "regime.changed": (
        RegimeChange(RegimeScope.SYMBOL, "BTCUSDT", Regime.BULL, None, 7_200_000, 0.61, 0.4),
        {"scope": "symbol", "symbol": "BTCUSDT", "regime": "BULL", "previous": None,
         "time": 7_200_000, "trend_score": 0.61, "vol_percentile": 0.4},
    ),
    "risk.decision": (
        RiskDecision("r:risk:1", Outcome.TRIMMED, INTENT, 0.25, ("max_leverage: over",), 9,
                     TradingState.REDUCING, RiskMode.MODERATE),
        {"decision_id": "r:risk:1", "outcome": "TRIMMED",
         "intent": {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.5, "order_type": "MARKET",
                    "price": None, "stop_price": None, "reduce_only": False, "stop_loss": 95.0,
                    "take_profit": None, "leverage": 2.0, "reason": "trend"},
         "final_quantity": 0.25, "reasons": ["max_leverage: over"], "time": 9,
         "trading_state": "REDUCING", "risk_mode": "MODERATE"},
    ),
    "risk.state.changed": (
        TradingStateChange(11, TradingState.ACTIVE, TradingState.HALTED, "drawdown", "risk", True),
        {"at": 11, "previous": "ACTIVE", "state": "HALTED", "reason": "drawdown", "by": "risk",
         "halt_latched": True},
    ),
    "health.alert": (
        HealthAlert(AlertSeverity.CRITICAL, "venue down"),
        {"severity": "critical", "message": "venue down"},
    ),
    "policy.updated": (
        PolicyUpdate("trading.global", 3, {"risk_mode": "TURBO", "max_leverage": 5.0}, "meta", "up"),
        {"key": "trading.global", "version": 3,
         "value": {"risk_mode": "TURBO", "max_leverage": 5.0}, "changed_by": "meta",
         "reason": "up"},
    ),
    "execution.order.submitted": (
        ORDER,
        {"client_order_id": "c-1", "symbol": "BTCUSDT", "side": "SELL", "order_type": "LIMIT",
         "quantity": 2.0, "created_at": 5, "price": 10.5, "stop_price": None,
         "reduce_only": False, "status": "NEW", "filled_quantity": 0.0, "average_price": 0.0,
         "updated_at": None, "reason": "x", "decision": REF_PAYLOAD},
    ),
    "execution.order.updated": (
        FILLED,
        {"client_order_id": "c-1", "symbol": "BTCUSDT", "side": "SELL", "order_type": "LIMIT",
         "quantity": 2.0, "created_at": 5, "price": 10.5, "stop_price": None,
         "reduce_only": False, "status": "FILLED", "filled_quantity": 2.0, "average_price": 10.5,
         "updated_at": 7, "reason": "x", "decision": None},
    ),
    "execution.order.filled": (
        OrderFilled.of(FILL, FILLED),
        {"fill_id": "c-1-F1", "client_order_id": "c-1", "symbol": "BTCUSDT", "side": "SELL",
         "quantity": 2.0, "price": 10.5, "fee": 0.0042, "time": 7, "is_maker": True,
         "order_status": "FILLED", "order_filled_quantity": 2.0, "order_average_price": 10.5},
    ),
    "execution.trade.closed": (
        TRADE,
        {"trade_id": "t-1", "symbol": "BTCUSDT", "side": "BUY", "quantity": 2.0,
         "entry_price": 10.0, "exit_price": 10.5, "entry_time": 1, "exit_time": 7, "pnl": 1.0,
         "fees": 0.01, "funding": -0.002, "strategy": "s", "exit_reason": "tp",
         "decision": REF_PAYLOAD},
    ),
    "model.drift.detected": (
        DriftDetected("xgb", "BTCUSDT", "cusum", "mean_up", 9.5, 8.0, 260, 60, 0.69, 0.02,
                      36_000_000, 18_000_000),
        {"model": "xgb", "symbol": "BTCUSDT", "detector": "cusum", "side": "mean_up",
         "statistic": 9.5, "threshold": 8.0, "window": 260, "points_since_reference": 60,
         "reference_mean_loss": 0.69, "reference_std_loss": 0.02, "time": 36_000_000,
         "prediction_time": 18_000_000},
    ),
    "model.covariate_shift": (
        CovariateShift("xgb", "BTCUSDT", ShiftState.STARTED, ("vol", "ret"),
                       (ShiftEvidence("vol", 0.4, 0.3, 1e-9), ShiftEvidence("ret", 0.1, 0.05, 0.2)),
                       0.8, 0.5, 1.6, 200, ShiftAction.DOWN_WEIGHT, 0.25, 2),
        {"model": "xgb", "symbol": "BTCUSDT", "state": "started", "features": ["vol", "ret"],
         "evidence": [{"feature": "vol", "psi": 0.4, "ks": 0.3, "ks_p": 1e-9},
                      {"feature": "ret", "psi": 0.1, "ks": 0.05, "ks_p": 0.2}],
         "energy": 0.8, "energy_threshold": 0.5, "severity": 1.6, "rows": 200,
         "action": "down_weight", "down_weight": 0.25, "time": 2},
    ),
    "model.stage_changed": (
        ModelStageChange("xgb", "BTCUSDT", 4, 7, "CANARY", "PRODUCTION", "PROMOTE", "cli:ann",
                         "canary beat production", 1_700_000_000_000),
        {"model": "xgb", "scope": "BTCUSDT", "horizon": 4, "version": 7, "from_stage": "CANARY",
         "to_stage": "PRODUCTION", "action": "PROMOTE", "actor": "cli:ann",
         "reason": "canary beat production", "time": 1_700_000_000_000},
    ),
}  # fmt: skip


def _identical(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same keys in the same order and the same values of the same types (as the event log
    hashes them: 1 and 1.0 differ, tuples and lists differ)."""
    return canonical_bytes((tuple(a), tuple(a.values()))) == canonical_bytes(
        (tuple(b), tuple(b.values()))
    )


def test_every_topic_has_a_sample_and_one_record_type() -> None:
    declared = {v.name for v in vars(topics_module).values() if isinstance(v, Topic)}
    assert declared == set(BY_NAME) == set(SAMPLES)
    assert len(BY_NAME) == len(ALL)  # no name twice
    for name, (record, _) in SAMPLES.items():
        assert type(record) is BY_NAME[name].record


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_encode_gives_the_payload_published_before_and_decodes_back(name: str) -> None:
    t = BY_NAME[name]
    record, before = SAMPLES[name]
    encoded = t.encode(record)
    assert _identical(encoded, before), (encoded, before)
    assert t.keys == tuple(before)
    assert t.decode(encoded) == record
    assert t.decode(before) == record


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_records_survive_the_json_envelope(name: str) -> None:
    """What the Redis Streams bus delivers: the envelope's JSON (keys sorted), parsed again."""
    t = BY_NAME[name]
    record, _ = SAMPLES[name]
    event = Event("run:1", t.name, 0, "test", 1, t.encode(record))
    again = Event.from_json(event.to_json())
    assert t.decode(again.payload) == record
    assert again.payload == t.encode(record)


def test_dead_topics_are_gone_and_the_risk_state_topic_is_registered() -> None:
    for dead in ("market.funding", "ai.signal", "rl.meta.strategy_selected", "rl.meta.updated"):
        assert dead not in BY_NAME
    assert "scheduler.job.ran" not in BY_NAME
    assert BY_NAME["risk.state.changed"].record is TradingStateChange


def test_a_payload_that_does_not_fit_is_refused_naming_topic_and_field() -> None:
    t = topics_module.TRADE_CLOSED
    payload = t.encode(TRADE)
    with pytest.raises(DataError, match=r"execution.trade.closed.*missing \['pnl'\]"):
        t.decode({k: v for k, v in payload.items() if k != "pnl"})
    with pytest.raises(DataError, match=r"unknown \['extra'\]"):
        t.decode(payload | {"extra": 1})
    with pytest.raises(DataError, match=r"Trade.exit_time='7'"):
        t.decode(payload | {"exit_time": "7"})
    with pytest.raises(DataError, match=r"Trade.side='HOLD'"):
        t.decode(payload | {"side": "HOLD"})
    with pytest.raises(DataError, match=r"OrderIntent.quantity"):
        decision = topics_module.RISK_DECISION.encode(SAMPLES["risk.decision"][0])  # type: ignore[arg-type]
        topics_module.RISK_DECISION.decode(
            decision | {"intent": {**decision["intent"], "quantity": None}}
        )


def test_encode_refuses_another_record_type() -> None:
    with pytest.raises(TypeError, match="carries Trade, not Order"):
        topics_module.TRADE_CLOSED.encode(ORDER)  # type: ignore[arg-type]


def test_a_topic_needs_a_dataclass_with_decodable_fields() -> None:
    class NotARecord:
        pass

    with pytest.raises(TypeError, match="must be a dataclass"):
        topic("x", NotARecord)


def test_subscribers_receive_records_and_failures_name_the_handler() -> None:
    bus = InProcessBus(SimulatedClock(0))
    trades: list[Trade] = []
    subscribe_records(bus, topics_module.TRADE_CLOSED, trades.append)
    publish_event(bus, topics_module.TRADE_CLOSED, TRADE, source="test")
    assert trades == [TRADE]

    def refuses_alerts(alert: HealthAlert) -> None:
        raise RuntimeError(alert.message)

    subscribe_records(bus, topics_module.HEALTH_ALERT, refuses_alerts)
    with pytest.raises(HandlerError, match=r"refuses_alerts on health\.alert"):
        publish_event(bus, topics_module.HEALTH_ALERT, SAMPLES["health.alert"][0], source="t")  # type: ignore[arg-type]
    with pytest.raises(HandlerError, match="missing \\['message'\\]"):
        bus.publish("health.alert", {"severity": "critical"}, source="t")


def test_no_module_outside_the_bus_reads_an_event_payload() -> None:
    """Subscribers get records (``subscribe_records``); the payload is the bus's business."""
    src = Path(quantum_trader.__file__).parent
    offenders = [
        f"{path.relative_to(src)}:{n}"
        for path in sorted(src.rglob("*.py"))
        if path.relative_to(src).parts[0] != "bus"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\.payload\b", line)
    ]
    assert offenders == []
