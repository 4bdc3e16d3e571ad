"""The modules a decision pipeline drives, as one record built by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from quantum_trader.decision.views import PortfolioRiskView
from quantum_trader.engine.trader import TradingContext
from quantum_trader.intelligence.ledger import LabelSource
from quantum_trader.intelligence.service import Intelligence
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.policy_source import PolicySource
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.cost_gate import EntryCostGate
from quantum_trader.strategy.expectancy import ExpectancyTracker
from quantum_trader.strategy.meta_controller import MetaStrategyController
from quantum_trader.strategy.meta_filter import MetaFilter
from quantum_trader.strategy.regime import RegimeDetector
from quantum_trader.strategy.selector import StrategySelector
from quantum_trader.strategy.sizing import PositionSizer
from quantum_trader.strategy.strategies.base import Strategy

LabelListener = Callable[[int, LabelSource, Iterable[str]], object]


@dataclass
class PipelineParts:
    """The modules the pipeline drives; built by the composition root once the runner exists
    (several of them publish on its bus and read its clock)."""

    ensembles: Mapping[str, Ensemble]  # one per symbol: tree models are trained per symbol
    intelligence: Intelligence | None
    regime: RegimeDetector | None
    controller: MetaStrategyController | None
    selector: StrategySelector
    strategies: Mapping[str, Strategy]
    sizer: PositionSizer
    risk: RiskEngine
    policy: PolicySource
    risk_view: PortfolioRiskView
    handles: Mapping[str, ModuleHandle] = field(default_factory=dict)
    #: refuses entries whose expected edge does not cover their costs (None: no gate)
    entry_gate: EntryCostGate | None = None
    #: benches a strategy whose net expectancy in a regime is significantly negative (None: off)
    expectancy: ExpectancyTracker | None = None
    #: meta-labelling's secondary model, filtering the rules' entries (None: off)
    meta_filter: MetaFilter | None = None
    #: told, after each close, which labels may have matured: (now, label source, symbols);
    #: the shadow evaluator scores its pending predictions with them
    label_listeners: Sequence[LabelListener] = ()
    #: run after each decision, outside its latency (a shadow challenger is asked here)
    after_decision: Sequence[Callable[[], object]] = ()


PartsFactory = Callable[[TradingContext], PipelineParts]
