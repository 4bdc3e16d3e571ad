"""Client order ids derived from the intent (issue 23 item 2): the same intent gives the same id
in any process, different intents never share one, every id is one Binance accepts, and the
replay's ids are untouched until the venue phase switches the scheme on."""

from __future__ import annotations

import itertools

import pytest

from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import OrderType, Side
from quantum_trader.execution.client_ids import BINANCE_CLIENT_ID, ROLES, IntentIds, intent_role
from tests.execution.helpers import make_desk

KEY = "testnet|k3y|sqlite:///home/qt.sqlite"


def test_the_same_intent_is_the_same_id_and_different_intents_differ() -> None:
    ids, again = IntentIds(KEY), IntentIds(KEY)  # a second process of the same lineage
    intents = list(
        itertools.product(
            ("BTCUSDT", "ETHUSDT"),
            ("BTCUSDT@1710774000000", "BTCUSDT@1710777600000", "ETHUSDT@1710774000000"),
            ROLES,
            ("BUY", "SELL"),
            (0, 1, 2),
        )
    )
    made = [ids.client_order_id(*intent) for intent in intents]
    assert made == [again.client_order_id(*intent) for intent in intents]
    assert len(set(made)) == len(intents)
    assert all(BINANCE_CLIENT_ID.match(cid) and cid.startswith(ids.prefix) for cid in made)
    other = IntentIds("testnet|another-key|sqlite:///home/qt.sqlite")
    assert other.prefix != ids.prefix
    assert not set(made) & {other.client_order_id(*intent) for intent in intents}


def test_fields_cannot_run_into_each_other() -> None:
    ids = IntentIds(KEY)
    assert ids.client_order_id("BTCUSDT", "X@1", "entry", "BUY", 11) != ids.client_order_id(
        "BTCUSDT", "X@11", "entry", "BUY", 1
    )


def test_roles_and_bad_input() -> None:
    assert [intent_role(False, "x"), intent_role(True, "x")] == ["entry", "exit"]
    assert intent_role(True, "take_profit") == "take_profit"
    with pytest.raises(ValueError, match="role"):
        IntentIds(KEY).client_order_id("BTCUSDT", "BTCUSDT@1", "hedge", "BUY", 0)
    with pytest.raises(ValueError, match="rank"):
        IntentIds(KEY).client_order_id("BTCUSDT", "BTCUSDT@1", "entry", "BUY", -1)
    with pytest.raises(ValueError, match="lineage"):
        IntentIds("")


def test_the_order_manager_derives_ids_only_once_switched_on() -> None:
    desk = make_desk()
    desk.portfolio.mark("BTCUSDT", 50_000.0)
    ref = DecisionRef("BTCUSDT@3600000", "S", "r", "z")
    paper = desk.orders.submit("BTCUSDT", Side.BUY, 0.01, decision=ref)
    assert paper.client_order_id == "t-BTCUSDT-1"  # the replay's ids, unchanged
    assert list(desk.orders.id_prefixes) == ["t-"]
    ids = IntentIds(KEY)
    desk.orders.use_intent_ids(ids)
    first = desk.orders.submit("BTCUSDT", Side.BUY, 0.01, decision=ref)
    expected = ids.client_order_id("BTCUSDT", ref.decision_id, "entry", "BUY", 0)
    assert first.client_order_id == expected
    assert list(desk.orders.id_prefixes) == ["t-", ids.prefix]
    # a second entry of the same decision is another intent (rank 1), never the first again
    second = desk.orders.submit("BTCUSDT", Side.BUY, 0.01, decision=ref)
    assert second.client_order_id == ids.client_order_id(
        "BTCUSDT", ref.decision_id, "entry", "BUY", 1
    )
    exit_ = desk.orders.submit("BTCUSDT", Side.SELL, 0.01, OrderType.MARKET, reduce_only=True)
    assert exit_.client_order_id.startswith(ids.prefix)
    assert len({first.client_order_id, second.client_order_id, exit_.client_order_id}) == 3


def test_a_process_deciding_the_same_candle_again_gets_the_held_order() -> None:
    """After a restart the journal is restored and the candle decided again: the same id, and
    the order already held is the answer (nothing reaches the venue a second time)."""
    desk = make_desk()
    desk.portfolio.mark("BTCUSDT", 50_000.0)
    desk.orders.use_intent_ids(IntentIds(KEY))
    ref = DecisionRef("BTCUSDT@3600000", "S", "r", "z")
    sent = desk.orders.submit("BTCUSDT", Side.BUY, 0.01, decision=ref)
    restarted = make_desk()
    restarted.portfolio.mark("BTCUSDT", 50_000.0)
    restarted.orders.use_intent_ids(IntentIds(KEY))
    restarted.orders.restore(desk.orders.snapshot(), desk.orders.orders)
    again = restarted.orders.submit("BTCUSDT", Side.BUY, 0.01, decision=ref)
    assert again is desk.orders.get(sent.client_order_id)
    assert not restarted.exchange.open_orders()  # nothing was sent by the restarted process
