from __future__ import annotations

import math

import pytest

from quantum_trader.intelligence import PredictionLedger, horizon_end_time

HOUR = 3_600_000


def test_no_resolution_before_the_label_horizon_has_passed() -> None:
    ledger = PredictionLedger()
    end = horizon_end_time(0, 4, HOUR)
    assert end == 5 * HOUR  # close of candle 4 (open at 4h) is known at 5h
    ledger.observe("BTCUSDT", "xgb", (0.2, 0.3, 0.5), 0, end)
    asked: list[tuple[str, int]] = []

    def labels(symbol: str, t: int) -> int:
        asked.append((symbol, t))
        return 2

    for now in range(0, end, HOUR // 4):
        assert ledger.resolve(now, labels) == []
    assert asked == []  # the label was not even looked at before its time
    [outcome] = ledger.resolve(end, labels)
    assert outcome.label == 2 and outcome.hit and outcome.resolved_at == end
    assert len(ledger) == 0


def test_a_due_prediction_without_its_label_stays_pending() -> None:
    ledger = PredictionLedger()
    ledger.observe("ETHUSDT", "lgbm", (0.6, 0.2, 0.2), 0, 10)
    assert ledger.resolve(20, lambda s, t: None) == []
    assert len(ledger) == 1
    [outcome] = ledger.resolve(30, lambda s, t: 0)
    assert outcome.loss == pytest.approx(-math.log(0.6))


def test_clock_going_backwards_and_bad_votes_fail_loudly() -> None:
    ledger = PredictionLedger()
    ledger.resolve(100, lambda s, t: 0)
    with pytest.raises(ValueError, match="cannot go backwards"):
        ledger.resolve(50, lambda s, t: 0)
    with pytest.raises(ValueError, match="sum to"):
        ledger.observe("BTCUSDT", "xgb", (0.5, 0.5, 0.5), 0, 10)
    with pytest.raises(ValueError, match="horizon_end"):
        ledger.observe("BTCUSDT", "xgb", (0.2, 0.3, 0.5), 10, 10)


def test_resolving_some_symbols_leaves_the_others_pending_in_arrival_order() -> None:
    ledger = PredictionLedger()
    p = (0.2, 0.3, 0.5)
    for t in (0, 1):
        for symbol in ("BTCUSDT", "ETHUSDT", "ADAUSDT"):
            ledger.observe(symbol, "xgb", p, t, t + 5)
    arrival = ledger.to_state()["pending"]
    assert [(s, t) for s, _, _, t, _ in arrival] == [
        (s, t) for t in (0, 1) for s in ("BTCUSDT", "ETHUSDT", "ADAUSDT")
    ]

    out = ledger.resolve(6, lambda s, t: 2, symbols=("ETHUSDT",))
    assert [(o.symbol, o.prediction.prediction_time) for o in out] == [
        ("ETHUSDT", 0),
        ("ETHUSDT", 1),
    ]
    assert [row[0] for row in ledger.to_state()["pending"]] == ["BTCUSDT", "ADAUSDT"] * 2
    rest = ledger.resolve(6, lambda s, t: 1)
    assert [(o.symbol, o.prediction.prediction_time) for o in rest] == [
        ("ADAUSDT", 0),
        ("BTCUSDT", 0),
        ("ADAUSDT", 1),
        ("BTCUSDT", 1),
    ]
    assert len(ledger) == 0 and ledger.resolved_total == 6


@pytest.mark.parametrize(
    "probs",
    [
        (math.nan, 0.5, 0.5),
        (0.5, math.nan, 0.5),
        (0.5, 0.5, math.inf),
        (-0.1, 0.6, 0.5),
        (1.5, -0.25, -0.25),
        (0.5, 0.5),
    ],
)
def test_a_vote_that_is_not_three_probabilities_is_refused_by_name(
    probs: tuple[float, float, float],
) -> None:
    ledger = PredictionLedger()
    with pytest.raises(ValueError, match=r"observe\(BTCUSDT, xgb, t=0\).*three probabilities"):
        ledger.observe("BTCUSDT", "xgb", probs, 0, 10)
    assert len(ledger) == 0


def test_hit_is_the_first_most_probable_class() -> None:
    ledger = PredictionLedger()
    ledger.observe("BTCUSDT", "xgb", (0.4, 0.4, 0.2), 0, 5)  # a tie: DOWN is the vote
    ledger.observe("BTCUSDT", "lgbm", (0.2, 0.4, 0.4), 0, 5)  # a tie: FLAT is the vote
    out = {o.model: o for o in ledger.resolve(5, lambda s, t: 1)}
    assert not out["xgb"].hit and out["lgbm"].hit
    assert out["xgb"].loss == -math.log(0.4)
