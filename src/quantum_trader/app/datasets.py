"""The main job's training inputs from its market data: each symbol's training dataset, the
covariate-shift references summarised from them, and the funding rates as domain records."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from quantum_trader.app.compose import labels
from quantum_trader.app.configs import feature_config, intelligence_config
from quantum_trader.app.data_sources import ReplayData
from quantum_trader.app.training import training_dataset, universe_features
from quantum_trader.config.settings import Settings
from quantum_trader.data.frames import funding_records
from quantum_trader.domain.market import FundingRate
from quantum_trader.features.dataset import Dataset
from quantum_trader.intelligence.covariate_shift import ShiftReference


def funding_rates(data: ReplayData) -> dict[str, list[FundingRate]]:
    return {symbol: funding_records(symbol, frame) for symbol, frame in data.funding.items()}


def training_datasets(
    settings: Settings, data: ReplayData, history: Mapping[str, pd.DataFrame] | None = None
) -> dict[str, Dataset]:
    """Each symbol's features and labels on the history before the replay (or on ``history``,
    a part of it); the universe features, when on, over the symbols of ``history`` together."""
    history = data.history if history is None else history
    market = history.get("BTCUSDT")
    config = feature_config(settings)
    together = universe_features(settings.timeframe, history, data.funding, market, config)
    return {
        symbol: training_dataset(
            symbol,
            settings.timeframe,
            frame,
            data.funding.get(symbol),
            market,
            labels(settings),
            config,
            None if together is None else together[symbol],
        )
        for symbol, frame in history.items()
    }


def shift_references(
    settings: Settings, datasets: Mapping[str, Dataset]
) -> dict[str, ShiftReference]:
    """Each symbol's training reference for the covariate-shift monitor (its labelled rows)."""
    config = intelligence_config(settings)
    if not config.is_on("covariate_shift"):
        return {}
    return {
        symbol: ShiftReference.fit(data.x[~pd.isna(data.y)], data.names, config.covariate)
        for symbol, data in datasets.items()
    }
