"""The shadow evaluator's saved state does not depend on the order the members' votes landed
in: the slowest member votes on a second thread, so which line reports first varies from run
to run, and the same run must save the same state (issue 22, determinism)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from quantum_trader.domain.signals import ModelVote
from quantum_trader.learning.shadow import ShadowEvaluator

H = 3_600_000
T0 = 1_718_000_000_000 - 1_718_000_000_000 % H
LINES = ("xgb/ETHUSDT/h4", "nhits/global/h4", "lgbm/ETHUSDT/h4")


def _state(order: tuple[str, ...]) -> str:
    evaluator = ShadowEvaluator(horizon=4, timeframe_ms=H)
    for step in range(1, 12):
        for line in order:
            slot = cast(Any, SimpleNamespace(line=line, challenge=None))
            vote = ModelVote(line.split("/")[0], 0.3, 0.2 + step / 100, 0.5 - step / 100)
            evaluator.on_votes(slot, "ETHUSDT", T0 + step * H, vote, None, 0)
        evaluator.resolve(T0 + step * H, lambda symbol, at: (at // H) % 3, ["ETHUSDT"])
    return json.dumps(evaluator.to_state())


def test_the_saved_state_is_the_same_whichever_line_reported_first() -> None:
    first = _state(LINES)
    assert '"pending"' in first and LINES[0] in first
    assert _state(tuple(reversed(LINES))) == first
    assert _state((LINES[1], LINES[0], LINES[2])) == first
