"""Typed component configs built from ``Settings``: the one place modules' configs meet the env.

Modules take a frozen config and never read ``Settings`` (STYLE habit 2); the composition root
and the CLI build those configs here.
"""

from __future__ import annotations

from quantum_trader.agents.qlearning import QLearningConfig
from quantum_trader.config.modules import module_enabled
from quantum_trader.config.settings import Settings
from quantum_trader.domain.time import MS_PER_HOUR, timeframe_ms
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.simulated.funding import FundingConfig
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.intelligence.service import MODULES, IntelligenceConfig
from quantum_trader.models.ensemble.ensemble import EnsembleConfig
from quantum_trader.risk.config import RiskConfig
from quantum_trader.strategy.cost_gate import EntryCostConfig
from quantum_trader.strategy.expectancy import ExpectancyConfig
from quantum_trader.strategy.meta_filter import MetaFilter, MetaFilterConfig
from quantum_trader.strategy.strategies import StrategyConfig

#: a member agrees only with p(direction) >= this (not a setting yet)
CONSENSUS_THRESHOLD = 0.4


def labels(settings: Settings) -> LabelSpec:
    """The label every member predicts ``label_horizon`` candles ahead (QT_LABEL): the sign of
    the return, or the triple barrier at QT_BARRIER_UPPER / QT_BARRIER_LOWER × σ."""
    # FLAT covers a round trip at the taker fee: a smaller move cannot be traded at a profit.
    return LabelSpec(
        horizon=settings.label_horizon,
        dead_zone=2 * settings.taker_fee,
        kind=settings.label,
        upper=settings.barrier_upper,
        lower=settings.barrier_lower,
    )


def strategy_config(settings: Settings) -> StrategyConfig:
    """How the strategies enter (QT_ENTRY_RULE): with the ensemble's direction, or on their own
    rule with the ensemble as the filter (meta-labelling)."""
    return StrategyConfig(entry_rule=settings.entry_rule)


def feature_config(settings: Settings) -> FeatureConfig:
    """The features every tabular member reads (QT_FEATURES): the base set, the extended, or the
    extended with the universe's cross-sectional features."""
    return FeatureConfig(
        extended=settings.features in ("extended", "universe"),
        universe=settings.features == "universe",
    )


def ensemble_config(settings: Settings, threshold: float = CONSENSUS_THRESHOLD) -> EnsembleConfig:
    """AI_ENGINE_ENSEMBLE_MODELS and AI_ENGINE_MIN_CONSENSUS."""
    return EnsembleConfig(tuple(settings.ensemble_models), settings.min_consensus, threshold)


def intelligence_config(
    settings: Settings, state_prefix: str = "intelligence"
) -> IntelligenceConfig:
    """The four adaptive modules switched by their ``ENABLE_*`` settings, each with its reason."""
    switches = {m: module_enabled(settings, m) for m in MODULES}
    return IntelligenceConfig(
        enabled={m: on for m, (on, _) in switches.items()},
        reasons={m: why for m, (_, why) in switches.items()},
        state_prefix=state_prefix,
    )


def risk_config(settings: Settings) -> RiskConfig:
    """The risk engine's static limits: defaults, with QT_REDUCING_COOLDOWN_HOURS."""
    cooldown_ms = max(1, round(settings.reducing_cooldown_hours * MS_PER_HOUR))
    return RiskConfig(reducing_cooldown_ms=cooldown_ms)


def expectancy_config(settings: Settings) -> ExpectancyConfig:
    """QT_EXPECTANCY_WINDOW, _MIN_TRADES, _ALPHA and _BENCH_HOURS."""
    return ExpectancyConfig(
        window=settings.expectancy_window,
        min_trades=settings.expectancy_min_trades,
        alpha=settings.expectancy_alpha,
        bench_ms=max(1, round(settings.expectancy_bench_hours * MS_PER_HOUR)),
    )


def qlearning_config(settings: Settings) -> QLearningConfig:
    """Module 14's Q-learner: its defaults (none of its knobs is a setting yet; QT_QLEARNING
    switches the module)."""
    return QLearningConfig()


def qlearning_scope(settings: Settings) -> str:
    """Where the Q-learner's table is kept in the database: one table per market (the symbols,
    sorted, and the timeframe), so that every run on it continues the same learning."""
    return f"qlearning/{','.join(sorted(settings.symbols))}/{settings.timeframe}"


def exchange_config(settings: Settings) -> ExchangeConfig:
    """The simulated exchange's fees, slippage and seed (the replay's, the RL environment's)."""
    return ExchangeConfig(
        fees=FeeSchedule(maker=settings.maker_fee, taker=settings.taker_fee),
        slippage_bps=settings.slippage_bps,
        seed=settings.seed,
    )


def funding_config(settings: Settings) -> FundingConfig:
    return FundingConfig(default_rate=settings.default_funding_rate)


def entry_cost_config(settings: Settings) -> EntryCostConfig | None:
    """The cost gate of entries (``QT_ENTRY_COST_GATE``; None: off), pricing the label
    horizon's trade at the simulated exchange's taker fee and slippage: production's, the
    shadow accounts' and the RL environments' alike."""
    if not settings.entry_cost_gate:
        return None
    hours = labels(settings).horizon * timeframe_ms(settings.timeframe) / MS_PER_HOUR
    return EntryCostConfig(
        taker_fee=settings.taker_fee,
        slippage_bps=settings.slippage_bps,
        horizon_hours=hours,
        margin_bps=settings.entry_margin_bps,
    )


def meta_filter(settings: Settings) -> MetaFilter | None:
    """Meta-labelling's secondary model (``QT_META_FILTER``; None: off): the rules' entries
    held at most the label horizon, priced at the simulated exchange's taker fee and slippage
    both ways."""
    if not settings.meta_filter:
        return None
    config = MetaFilterConfig(
        horizon=labels(settings).horizon,
        round_trip=2 * (settings.taker_fee + settings.slippage_bps / 10_000),
        timeframe_hours=timeframe_ms(settings.timeframe) / MS_PER_HOUR,
        seed=settings.seed,
    )
    return MetaFilter(config)
