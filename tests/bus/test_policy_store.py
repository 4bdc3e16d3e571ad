import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories import SqlPolicyRepository
from quantum_trader.bus import InProcessBus
from quantum_trader.bus.policy_store import PolicyStore, PolicyVersion, RLTrainingPolicy
from quantum_trader.clock import Scheduler, SimulatedClock
from quantum_trader.domain import ConfigError
from quantum_trader.domain.policy import TRADING_POLICY_KEY, RiskMode, TradingPolicy
from quantum_trader.risk.policy_source import StorePolicySource

#: ``trading.global`` as the store wrote it while it had its own pydantic model (before 2026-12)
STORED_BEFORE = (
    '{"risk_mode":"AGGRESSIVE","max_open_positions":8,"max_leverage":5.0,'
    '"stop_loss_pct":0.025,"risk_per_trade":0.015}'
)


def make_store(db: Engine, clock: SimulatedClock) -> tuple[PolicyStore, InProcessBus]:
    bus = InProcessBus(clock)
    return PolicyStore(SqlPolicyRepository(db), bus, clock), bus


def test_versions_history_and_defaults(db_engine: Engine) -> None:
    store, _ = make_store(db_engine, SimulatedClock(1_000))
    assert store.get("rl.v3.training", RLTrainingPolicy) == RLTrainingPolicy()
    assert store.set("rl.v3.training", {"enabled": False}, by="cli", reason="pause") == 1
    assert store.set("rl.v3.training", {"interval_minutes": 60}, by="cli") == 2
    assert store.get("rl.v3.training", RLTrainingPolicy).interval_minutes == 60
    history = store.history("rl.v3.training")
    assert [(h.version, h.changed_by, h.reason) for h in history] == [
        (1, "cli", "pause"),
        (2, "cli", ""),
    ]


def test_invalid_values_and_unknown_keys_are_refused(db_engine: Engine) -> None:
    store, _ = make_store(db_engine, SimulatedClock(0))
    with pytest.raises(ConfigError, match="invalid value"):
        store.set("rl.v3.training", {"episodes_per_run": "many"}, by="cli")
    with pytest.raises(ConfigError, match="unknown policy key 'nope'"):
        store.set("nope", {}, by="cli")
    assert store.history("rl.v3.training") == []


def test_running_subscriber_sees_change_from_another_process_without_restart(
    db_engine: Engine,
) -> None:
    # The engine's store, with a subscriber and a scheduled refresh, as in a running engine.
    clock = SimulatedClock(0)
    engine_store, _ = make_store(db_engine, clock)
    received: list[RLTrainingPolicy] = []
    engine_store.watch("rl.v3.training", RLTrainingPolicy, received.append)
    sched = Scheduler()
    sched.every("policy.refresh", 60_000, lambda _t: engine_store.refresh(), start_at=0)

    # Another process (e.g. the CLI) writes a new version to the same database.
    cli_store, _ = make_store(db_engine, SimulatedClock(0))
    cli_store.set("rl.v3.training", {"episodes_per_run": 5}, by="operator", reason="more")
    assert received == []

    clock.advance_to(60_000)
    sched.run_due(clock.now())
    assert received == [RLTrainingPolicy(episodes_per_run=5)]
    sched.run_due(clock.now() + 60_000)  # nothing new: no duplicate delivery
    assert len(received) == 1


def test_in_process_change_reaches_subscriber_immediately(db_engine: Engine) -> None:
    store, _ = make_store(db_engine, SimulatedClock(0))
    received: list[RLTrainingPolicy] = []
    store.watch("rl.v3.training", RLTrainingPolicy, received.append)
    store.set("rl.v3.training", RLTrainingPolicy(enabled=False), by="controller")
    assert received == [RLTrainingPolicy(enabled=False)]


def test_the_trading_policy_is_the_domain_type_and_old_stored_json_still_loads(
    db_engine: Engine,
) -> None:
    repo = SqlPolicyRepository(db_engine)
    repo.append(PolicyVersion(TRADING_POLICY_KEY, 1, STORED_BEFORE, 5, "meta", "old row"))
    store, _ = make_store(db_engine, SimulatedClock(10))
    source = StorePolicySource(store)
    expected = TradingPolicy(RiskMode.AGGRESSIVE, 8, 5.0, 0.025, 0.015)
    assert store.get(TRADING_POLICY_KEY, TradingPolicy) == expected == source.current()
    store.set(TRADING_POLICY_KEY, TradingPolicy(), by="meta")
    assert source.current() == TradingPolicy()  # the risk side follows the published value
    assert store.history(TRADING_POLICY_KEY)[-1].value_json == (
        '{"risk_mode":"MODERATE","max_open_positions":5,"max_leverage":3.0,'
        '"stop_loss_pct":0.02,"risk_per_trade":0.01}'
    )  # written in the same shape as before, so older code reads it too


def test_a_trading_policy_that_breaks_a_domain_rule_or_has_extra_fields_is_refused(
    db_engine: Engine,
) -> None:
    store, _ = make_store(db_engine, SimulatedClock(0))
    with pytest.raises(ConfigError, match="risk_per_trade"):
        store.set(TRADING_POLICY_KEY, {"risk_per_trade": 0.5}, by="cli")
    with pytest.raises(ConfigError, match="invalid value"):
        store.set(TRADING_POLICY_KEY, {"risk_mode": "YOLO"}, by="cli")
    with pytest.raises(ConfigError, match="invalid value"):
        store.set(TRADING_POLICY_KEY, {"leverage": 2.0}, by="cli")
    assert store.history(TRADING_POLICY_KEY) == []
