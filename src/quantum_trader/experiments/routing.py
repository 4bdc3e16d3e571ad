"""An experiment in route mode, in a run: the router trades the real account, production holds
back its own orders on the symbols the router owns.

Two writers on one futures account would net their positions, and the real position would be
neither the allocated arm's nor production's. So while :class:`PositionRouter` routes a symbol
(``PositionRouter.routes``: while the experiment runs, and after it until the last routed
position there is closed), production's decision path still decides on every candle (its
learning, selection and status go on as before) but each of its trade intents there, entry
or exit, is held back before it is sized: nothing of it reaches the real account's risk engine
or venue, and it is counted. The real account's protective orders (the brackets the router's
entries carry) are the venue's and the order manager's, as for any entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantum_trader.experiments.router import PositionRouter
from quantum_trader.strategy.intents import TradeAction, TradeIntent


@dataclass(slots=True)
class ProductionHold:
    """Asked by production's decision pipeline about each trade intent before it is sized
    (``DecisionPipeline.hold_back``): True, and counted, where ``router`` owns the symbol."""

    router: PositionRouter
    #: intents held back: ``entries`` and ``exits``
    held: dict[str, int] = field(default_factory=lambda: {"entries": 0, "exits": 0})

    def __call__(self, intent: TradeIntent) -> bool:
        if not self.router.routes(intent.symbol):
            return False
        self.held["entries" if intent.action is TradeAction.ENTRY else "exits"] += 1
        return True
