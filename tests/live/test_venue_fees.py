"""The account's fee tier, read at the handover from the exchange double (ccxt's
``fetch_trading_fee``, ``GET /fapi/v1/commissionRate``, signed) and used by the live phase's
cost gate; the configured fees kept, and why, when the venue gives none."""

from __future__ import annotations

import pytest
import structlog

from quantum_trader.app.venue import VenueWiring, use_venue_fees
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Direction, ModelVote, Signal
from quantum_trader.execution.handover import PaperThenVenue
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.rl.parts import MemoryKillSwitchStore
from quantum_trader.status.registry import ModuleHandle, StatusRegistry
from quantum_trader.strategy.cost_gate import EntryCostConfig, EntryCostGate
from tests.exchange_double import ExchangeDouble
from tests.execution.helpers import HOUR, make_desk
from tests.live.conftest import manager_for, venue_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")
CONFIGURED = FeeSchedule(maker=0.0002, taker=0.0004)
SLIPPAGE = 1e-4  # 1 bp a side
SURE = Signal("ETHUSDT", 0, Direction.UP, 0.9, 0.8, (ModelVote("m", 0.05, 0.05, 0.9),))


def _gate() -> EntryCostGate:
    config = EntryCostConfig(CONFIGURED.taker, SLIPPAGE * 10_000, 4, window=3, min_per_class=1)
    gate = EntryCostGate(config, dead_zone=0.001)
    for move in (0.02, -0.02, 0.0):
        gate.observe("ETHUSDT", move)
    return gate


def _status() -> ModuleHandle:
    return StatusRegistry(SimulatedClock(0)).register("execution", enabled=True, reason="test")


def _entry_cost(gate: EntryCostGate) -> float:
    return gate.assess(SURE, Side.BUY, funding_rate=0.0).cost


def test_the_venue_rates_price_the_live_entries(double: ExchangeDouble) -> None:
    double.book.commission = {"BTCUSDT": (0.00018, 0.00045), "ETHUSDT": (0.0002, 0.0005)}
    venue, gate, status = venue_for(double), _gate(), _status()
    assert _entry_cost(gate) == pytest.approx(2 * (CONFIGURED.taker + SLIPPAGE))
    with structlog.testing.capture_logs() as logs:
        fees = use_venue_fees(venue, SYMBOLS, CONFIGURED, gate, status)
    assert fees.source == "venue"
    assert [(r.symbol, r.maker, r.taker) for r in fees.rates] == [
        ("BTCUSDT", 0.00018, 0.00045),
        ("ETHUSDT", 0.0002, 0.0005),
    ]
    assert double.requests["GET /fapi/v1/commissionRate"] == 2
    # the gate has one rate: the highest of the symbols', never below an entry's cost
    assert _entry_cost(gate) == pytest.approx(2 * (0.0005 + SLIPPAGE))
    # both symbols cost more than configured: a warning the operator sees, and the evidence
    (line,) = [e for e in logs if e["event"] == "venue.fees"]
    assert line["log_level"] == "warning"
    assert line["taker_above_configured"] == {"BTCUSDT": 0.00045, "ETHUSDT": 0.0005}
    assert line["cost_gate"] == "entries priced at taker 0.0005"
    assert status.status.counters == {
        "fees_venue": 1,
        "taker_fee_ppm": 500,
        "maker_fee_ppm": 200,
        "venue_taker_above_configured": 2,
    }
    # and the venue's fill is charged at the rate the gate priced
    om = manager_for(venue, double)
    om.submit("ETHUSDT", Side.BUY, 0.1)
    (fill,) = om.fill_log
    assert fill.fee == pytest.approx(0.1 * 3_000.0 * 0.0005)


def test_rates_at_or_below_the_configured_are_an_info_line(double: ExchangeDouble) -> None:
    double.book.commission = {s: (0.0001, 0.0003) for s in SYMBOLS}
    gate = _gate()
    with structlog.testing.capture_logs() as logs:
        fees = use_venue_fees(venue_for(double), SYMBOLS, CONFIGURED, gate, None)
    assert fees.source == "venue" and fees.above_configured == ()
    assert _entry_cost(gate) == pytest.approx(2 * (0.0003 + SLIPPAGE))
    assert [e["log_level"] for e in logs if e["event"] == "venue.fees"] == ["info"]


@pytest.mark.parametrize(
    ("fault", "symbols", "said"),
    [
        ("server_error", SYMBOLS, "commission rate of BTCUSDT: fetch_trading_fee BTCUSDT: no"),
        ("none", ("BTCUSDT", "SOLUSDT"), "commission rate of SOLUSDT: refused"),
    ],
)
def test_no_rate_from_the_venue_keeps_the_configured_fees(
    double: ExchangeDouble, fault: str, symbols: tuple[str, ...], said: str
) -> None:
    venue, gate, status = venue_for(double), _gate(), _status()
    if fault == "server_error":
        double.faults.server_error_next = 1
    with structlog.testing.capture_logs() as logs:
        fees = use_venue_fees(venue, symbols, CONFIGURED, gate, status)
    assert (fees.source, fees.cause, fees.schedule) == ("configured", "unavailable", CONFIGURED)
    assert fees.reason.startswith(said)
    assert _entry_cost(gate) == pytest.approx(2 * (CONFIGURED.taker + SLIPPAGE))
    (line,) = [e for e in logs if e["event"] == "venue.fees"]
    assert (line["log_level"], line["source"], line["reason"]) == (
        "warning",
        "configured",
        fees.reason,
    )
    assert status.status.counters["fees_configured_unavailable"] == 1
    assert status.status.counters["taker_fee_ppm"] == 400


def test_a_venue_without_rates_keeps_the_configured_fees() -> None:
    fees = use_venue_fees(object(), SYMBOLS, CONFIGURED, None, None)
    assert (fees.source, fees.cause) == ("configured", "not_reported")
    assert fees.reason == "object does not report commission rates"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"takerCommissionRate": "abc"}, "takerCommissionRate='abc': not a number"),
        ({"makerCommissionRate": None}, "makerCommissionRate missing from the answer"),
        (
            {"takerCommissionRate": "NaN"},
            "takerCommissionRate='NaN': not a rate (finite, below 10%)",
        ),
        (
            {"takerCommissionRate": "0.5"},
            "takerCommissionRate='0.5': not a rate (finite, below 10%)",
        ),
        ({"takerCommissionRate": "-0.0004"}, "takerCommissionRate='-0.0004': negative"),
        ({"symbol": "ETHUSDT"}, "symbol='ETHUSDT': the answer is not for BTCUSDT"),
    ],
)
def test_a_bad_payload_names_the_symbol_and_the_field(
    double: ExchangeDouble, fields: dict[str, object], said: str
) -> None:
    double.faults.commission_fields = fields
    venue, gate, status = venue_for(double), _gate(), _status()
    with pytest.raises(DataError) as raised:
        venue.commission_rate("BTCUSDT")
    assert str(raised.value) == f"commission rate of BTCUSDT: {said}"
    fees = use_venue_fees(venue, SYMBOLS, CONFIGURED, gate, status)
    assert (fees.source, fees.cause, fees.reason) == (
        "configured",
        "bad_payload",
        str(raised.value),
    )
    assert _entry_cost(gate) == pytest.approx(2 * (CONFIGURED.taker + SLIPPAGE))
    assert status.status.counters["fees_configured_bad_payload"] == 1


def test_the_handover_prices_the_live_phase_at_the_venue_rates(double: ExchangeDouble) -> None:
    double.book.commission = {s: (0.0002, 0.0006) for s in SYMBOLS}
    venue, desk, gate, status = venue_for(double), make_desk(10_000.0), _gate(), _status()
    wiring = VenueWiring(
        "testnet",
        reconcile_every_ms=HOUR,
        kill_switch=KillSwitch(MemoryKillSwitchStore(), desk.clock),
        lineage_key="testnet|key|db",
        symbols=SYMBOLS,
        configured_fees=CONFIGURED,
    )
    book = PaperThenVenue(
        desk.exchange,
        desk.portfolio,
        lambda: VenueBook(venue, desk.portfolio, BINANCE_USDM, desk.clock),
    )
    wiring.holder.append(book)
    orders = OrderManager(book, BINANCE_USDM, desk.clock, desk.bus, "run", mark=lambda _s: None)
    wiring.attach(orders, Scheduler(desk.clock), None, status=status, entry_gate=lambda: gate)
    wiring.hand_over(desk.clock.now())
    assert wiring.fees is not None and wiring.fees.source == "venue"
    assert _entry_cost(gate) == pytest.approx(2 * (0.0006 + SLIPPAGE))
    assert status.status.counters["venue_taker_above_configured"] == 2
